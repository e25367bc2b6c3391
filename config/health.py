"""GET /health/ (django-health-check): the database, the cache, the Celery broker, a
live worker, beat's last tick and the payment gateway. Open to anonymous callers (load
balancers): a plain-text status line per check, 200 when all pass, 500 otherwise;
?format=json (or Accept: application/json) answers in JSON."""

import dataclasses
import datetime

import celery
from celery import current_app
from celery.app import app_or_default
from django.conf import settings
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from kombu.exceptions import OperationalError

from batch.health import CeleryBeat
from payments.health import Gateway


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
            raise ServiceUnavailable(f"Cannot reach the broker: {type(error).__name__}") from error


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
            raise ServiceUnavailable(f"Cannot reach the broker: {type(error).__name__}") from error
        if not replies:
            raise ServiceUnavailable("No Celery worker answers.")
        routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
        wanted = {settings.CELERY_TASK_DEFAULT_QUEUE, *routed}
        consumed = {queue["name"] for queues in replies.values() for queue in queues}
        missing = sorted(wanted - consumed)
        if missing:
            raise ServiceUnavailable(f"No worker consumes the queue(s): {', '.join(missing)}")


CHECKS = (Database, Cache, Broker, CeleryWorkers, CeleryBeat, Gateway)


class HealthView(HealthCheckView):
    checks = CHECKS

    def render_to_response(self, context, **response_kwargs):
        # The library's HTML page has an inline style our CSP refuses; plain text serves
        # load balancers and people alike.
        return self.render_to_response_text(response_kwargs.get("status", 200))
