FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them: exactly the lock
# file's versions, every file checked against its hash.
COPY requirements/production.lock requirements/
RUN pip install --require-hashes --no-deps --only-binary=:all: -r requirements/production.lock

COPY . .
# Static files are collected and translations compiled at build time; the app serves the
# static files itself (WhiteNoise).
RUN SECRET_KEY=build-only-key-never-used-to-sign-anything-0123456789 DEBUG=false python manage.py collectstatic --no-input \
 && SECRET_KEY=build-only-key-never-used-to-sign-anything-0123456789 DEBUG=false python manage.py compile_translations

RUN useradd --create-home continuity && mkdir -p /app/var && chown -R continuity /app/var
USER continuity

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "-c", "config/gunicorn.py"]
