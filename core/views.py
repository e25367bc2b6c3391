"""Views of the project as a whole: the answer to a locked-out sign-in (used by
django-axes), /metrics and who may read it, the 500 handler, the schema."""

import math

from axes.helpers import get_client_ip_address, get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from rest_framework.renderers import JSONRenderer

from core.addresses import client_address, parse_address
from core.metrics import BUSINESS_METRICS
from core.rest import error_body, server_error_response


def sign_in_locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE): 429 with
    Retry-After, in the API's error shape under /api/ (the token endpoint), else the
    sign-in page with the refusal above an empty form."""
    retry_after = _seconds_locked(request, credentials)
    minutes = max(1, math.ceil(retry_after / 60))
    message = ngettext(
        "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
        "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    if request.path.startswith("/api/"):
        response = JsonResponse(
            error_body(status_code=429, code="throttled", message=message), status=429
        )
    else:
        form = AuthenticationForm(request)
        response = render(
            request,
            "registration/login.html",
            {"form": form, "refusal": message, "next": request.POST.get("next", "")},
            status=429,
        )
    response["Retry-After"] = str(retry_after)
    return response


def _seconds_locked(request, credentials) -> int:
    """Seconds until the lock on this user name and address ends: the cool-off counts
    from the pair's last counted failure (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT
    is off, so refused attempts do not move it)."""
    last_failure = AccessAttempt.objects.filter(
        username=get_client_username(request, credentials),
        ip_address=get_client_ip_address(request),
    ).aggregate(last=Max("attempt_time"))["last"]
    if last_failure is None:
        return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())
    ends = last_failure + settings.AXES_COOLOFF_TIME
    return max(1, math.ceil((ends - timezone.now()).total_seconds()))


def monitoring_allowed(request) -> bool:
    """Whether the caller may read the monitoring pages (/metrics, the full /health/):
    it comes from METRICS_ALLOWED_NETWORKS or is signed-in staff."""
    address = parse_address(client_address(request))
    if address is not None and any(address in net for net in settings.METRICS_ALLOWED_NETWORKS):
        return True
    return request.user.is_active and request.user.is_staff


@login_not_required
def metrics(request):
    """GET /metrics in Prometheus' text format: django-prometheus' request metrics and
    the product's own (core.metrics), to callers from METRICS_ALLOWED_NETWORKS and to
    signed-in staff. Anyone else gets 404: the page is not advertised."""
    if not monitoring_allowed(request):
        raise Http404
    if settings.PROMETHEUS_MULTIPROC_DIR:
        process_metrics = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_metrics)
    else:
        process_metrics = REGISTRY
    body = generate_latest(process_metrics) + generate_latest(BUSINESS_METRICS)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def server_error(request):
    """handler500: the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return server_error_response()
    return defaults.server_error(request)


class SchemaView(SpectacularAPIView):
    """/api/schema/ (YAML, or JSON with ?format=json), its errors in the one JSON shape
    rather than in the schema's own format."""

    def handle_exception(self, exc):
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)
