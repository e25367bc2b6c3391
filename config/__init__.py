# Celery is imported here so that @shared_task binds to our app when Django starts.
from config.celery import app as celery_app

__all__ = ("celery_app",)
