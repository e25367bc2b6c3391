"""The health endpoints (django-health-check), plain text (or JSON with ?format=json or
Accept: application/json), 200 when every check passes, 500 otherwise:

- /health/live/: this web process can serve, its database and its cache answer. Open to
  anyone, whatever Host header it carries (LiveHealthMiddleware answers it before the
  host is validated): what load balancers and compose's health check call.
- /health/: every part, the database, the cache, the Celery broker, a live worker on each
  queue, beat's last tick and the payment gateway. Only for the monitoring callers of
  /metrics (METRICS_ALLOWED_NETWORKS, signed-in staff); anyone else gets 404.

Each answer is kept (per process) for a few seconds, so a flood of calls runs the checks
once per that time: the full set broadcasts to the workers and pings the payment gateway.
A failing check tells its caller a fixed, general message; why it failed (host, port,
the driver's error) goes to the log, one WARNING line per failing check."""

import dataclasses
import datetime
import logging
import time

import celery
from asgiref.sync import async_to_sync, sync_to_async
from celery import current_app
from celery.app import app_or_default
from django.conf import settings
from django.http import Http404
from health_check import checks
from health_check.base import HealthCheck, HealthCheckResult
from health_check.checks import Cache
from health_check.exceptions import HealthCheckException, ServiceUnavailable
from health_check.views import HealthCheckView
from kombu.exceptions import OperationalError

from batch.health import CeleryBeat
from core.views import monitoring_allowed
from payments.health import Gateway

logger = logging.getLogger(__name__)

LIVE_PATH = "/health/live/"
# The live check is cheap, but a load balancer per web node times a few gunicorn workers
# still adds up; two seconds keeps a failure visible at once.
LIVE_CACHE_SECONDS = 2


@dataclasses.dataclass
class Database(checks.Database):
    """The library's SELECT 1, its failure told in general terms: the library's own
    message quotes the driver's, with the database's host and port."""

    def run(self) -> None:
        try:
            super().run()
        except HealthCheckException as error:
            raise ServiceUnavailable("The database does not answer.") from error


@dataclasses.dataclass
class Broker(HealthCheck):
    """A connection to Celery's broker as the workers make it, whatever the transport:
    Redis in production, the filesystem folder under `make run`."""

    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=3), repr=False
    )

    def run(self) -> None:
        try:
            with current_app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=self.timeout.total_seconds())
        except (OperationalError, OSError) as error:
            raise ServiceUnavailable("Cannot reach the broker.") from error


@dataclasses.dataclass
class CeleryWorkers(HealthCheck):
    """At least one worker answers, and between them the workers consume every queue the
    tasks are routed to. One broadcast (active_queues) proves both: the library's Ping
    check makes two, and on the filesystem broker of `make run` (which polls once a
    second) the pair outlasts the check's time."""

    app: celery.Celery = dataclasses.field(default_factory=app_or_default, repr=False)
    # How long the workers' answers are awaited: a worker busy with a batch chunk answers
    # from its main process at once.
    reply_seconds: float = dataclasses.field(default=1.0, repr=False)
    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=4), repr=False
    )

    def run(self) -> None:
        try:
            replies = self.app.control.inspect(timeout=self.reply_seconds).active_queues()
        except OSError as error:
            raise ServiceUnavailable("Cannot reach the broker.") from error
        if not replies:
            raise ServiceUnavailable("No Celery worker answers.")
        routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
        wanted = {settings.CELERY_TASK_DEFAULT_QUEUE, *routed}
        consumed = {queue["name"] for queues in replies.values() for queue in queues}
        missing = sorted(wanted - consumed)
        if missing:
            raise ServiceUnavailable(f"No worker consumes the queue(s): {', '.join(missing)}")


LIVE_CHECKS = (Database, Cache)
CHECKS = (Database, Cache, Broker, CeleryWorkers, CeleryBeat, Gateway)

# Each view's last results, per process: (monotonic time they expire, results).
_kept: dict[type, tuple[float, list[HealthCheckResult]]] = {}


@dataclasses.dataclass
class _Kept:
    """A kept result, standing in for its check in the library's run of the checks."""

    result: HealthCheckResult

    async def get_result(self, executor=None) -> HealthCheckResult:
        return self.result


def forget_kept_results() -> None:
    """Next calls run the checks again (tests)."""
    _kept.clear()


def _cause(error: BaseException) -> str:
    """The first error in the chain, on one line: what the log needs and callers must
    not see (a driver's message names hosts and ports)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


class KeptHealthView(HealthCheckView):
    """Runs its checks at most once per `keep_seconds()` in this process and answers
    from the kept results meanwhile. gunicorn's sync workers serve one request at a time,
    so no two runs overlap within a process."""

    def keep_seconds(self) -> float:
        raise NotImplementedError

    async def get(self, request, *args, **kwargs):
        expires, results = _kept.get(type(self), (0.0, []))
        self.kept_results = results if time.monotonic() < expires else None
        response = await super().get(request, *args, **kwargs)
        if self.kept_results is None:
            _kept[type(self)] = (time.monotonic() + self.keep_seconds(), self.results)
            for result in self.results:
                if result.error:
                    logger.warning(
                        "Health check %r failed: %s (%s)",
                        result.check,
                        result.error,
                        _cause(result.error),
                    )
        # A failing status is an answer, not a server error: without this Django logs
        # "Internal Server Error" at ERROR for every probe (the mark is the one its own
        # log_response sets once it has logged a response).
        response._has_been_logged = True
        return response

    def get_checks(self):
        if self.kept_results is not None:
            return [_Kept(result) for result in self.kept_results]
        return super().get_checks()

    def render_to_response(self, context, **response_kwargs):
        # The library's HTML page has an inline style our CSP refuses; plain text serves
        # load balancers and people alike.
        return self.render_to_response_text(response_kwargs.get("status", 200))


class LiveHealthView(KeptHealthView):
    checks = LIVE_CHECKS

    def keep_seconds(self) -> float:
        return LIVE_CACHE_SECONDS


class HealthView(KeptHealthView):
    checks = CHECKS

    def keep_seconds(self) -> float:
        return settings.HEALTH_CACHE_SECONDS

    async def dispatch(self, request, *args, **kwargs):
        # Before any check runs: a refused caller costs nothing but this.
        if not await sync_to_async(monitoring_allowed)(request):
            raise Http404
        return await super().dispatch(request, *args, **kwargs)


class LiveHealthMiddleware:
    """Answers LIVE_PATH before SecurityMiddleware and CommonMiddleware: the load
    balancer's or compose's probe may name any host (an address, `localhost`) without a
    DisallowedHost error per probe, nor a redirect to HTTPS. The answer has nothing in it
    that depends on the host."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.live = async_to_sync(LiveHealthView.as_view())

    def __call__(self, request):
        if request.path_info == LIVE_PATH:
            return self.live(request)
        return self.get_response(request)
