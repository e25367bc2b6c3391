"""gunicorn settings of the web process (`gunicorn -c config/gunicorn.py`): with
PROMETHEUS_MULTIPROC_DIR set, its workers share django-prometheus' request metrics
through that folder (prometheus_client's multiprocess mode), so that /metrics reports the
web as a whole whichever worker answers."""

import os
import shutil

# Set here, before prometheus_client is first imported (it picks its storage then), and
# only for gunicorn: a management command run beside it in the same container
# (createsuperuser, load_demo_data) keeps its metrics to itself instead of failing on a
# folder it did not create. One folder per gunicorn master, so two never share one.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", f"/tmp/continuity-metrics-{os.getpid()}")

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# The application writes one access line per request, with its request id and user
# (core.access_log): gunicorn's own access log would say the same without them.
accesslog = None
# A request that takes longer than this is a stuck worker: gunicorn kills and replaces it
# (the slowest page, a batch run's start, answers in well under a second; batch work runs
# in Celery, not here). On SIGTERM, requests in flight get this long to finish.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))


def on_starting(server):
    # Files left by an earlier start would be added to this one's counts.
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def post_worker_init(worker):
    # The application is loaded (gunicorn loads it in each worker, after the fork): its
    # objects leave the garbage collector's full collections (config.startup).
    from config.startup import freeze_loaded_objects

    worker.log.info("Froze %d objects of the loaded application", freeze_loaded_objects())


def child_exit(server, worker):
    # A dead worker's gauges leave with it; its counters stay summed in.
    multiprocess.mark_process_dead(worker.pid)
