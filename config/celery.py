import os

import structlog
from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("continuity")
# Every CELERY_* setting in config/settings.py configures Celery.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_the_projects_logging(**kwargs):
    """Worker and beat log through settings.LOGGING (JSON lines, card data masked), not
    through Celery's own handlers: a receiver of this signal replaces Celery's set-up.
    LOG_LEVEL sets the level; the command line's --loglevel is not used."""
    from django.conf import settings

    from core.logs import configure

    configure(settings.LOGGING)


# The context bound when each task started, by task id: restored when it ends, so that a
# task run eagerly inside another (or a request) gives its caller's context back.
_bound_by_task: dict[str, dict] = {}


@task_prerun.connect
def bind_task_to_log_lines(task_id=None, task=None, **kwargs):
    _bound_by_task[task_id] = structlog.contextvars.bind_contextvars(
        task_id=task_id, task_name=task.name
    )


@task_postrun.connect
def unbind_task_from_log_lines(task_id=None, **kwargs):
    tokens = _bound_by_task.pop(task_id, None)
    if tokens:
        structlog.contextvars.reset_contextvars(**tokens)


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task=None, **kwargs):
    """Before and after each task, what Django does before and after each request:
    close the connections older than DB_CONN_MAX_AGE or broken by an error, and keep the
    others for the next task (settings.CELERY_DB_REUSE_MAX says why; a kept one is
    checked before its first statement, CONN_HEALTH_CHECKS).

    Not for a task run eagerly: it runs inside its caller's request or transaction, whose
    connection is its caller's."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
def share_the_parents_memory_with_the_pool(**kwargs):
    """Before the prefork pool forks its processes: import what the tasks use, then move
    every object to the garbage collector's permanent generation. A forked process
    shares the parent's pages until it writes to one, and a collection writes to every
    object it visits; frozen objects are never visited, so the pages stay shared
    (docs/benchmarks.md, "A million shipments")."""
    import gc

    app.loader.import_default_modules()
    gc.collect()
    gc.freeze()
