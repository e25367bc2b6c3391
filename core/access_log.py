"""One log line per request, and the request's id on every line written while it runs.

RequestLogMiddleware comes first in settings.MIDDLEWARE, so that it sees every request,
those that another middleware answers itself (an HTTPS redirect) included. It binds
request_id for the whole request and returns it in the X-Request-ID response header; it
binds the signed-in user (a session's) before the view runs. API calls authenticated by
token are authenticated inside the view (by Django REST framework), so lines written
during such a call carry the request id, and the access line names the user.

Being first, it also refuses (405) an HTTP method outside KNOWN_METHODS before any other
middleware runs: django-prometheus labels its series by the method as sent, so made-up
methods would otherwise add series to /metrics without end.
"""

from __future__ import annotations

import time

import structlog
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from core.logs import REQUEST_ID_HEADER, request_id_from

access_logger = structlog.get_logger("continuity.access")

# Every method a page or the API answers; any other is refused before anything counts it.
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _user_fields(request: HttpRequest) -> dict:
    # No `user` attribute: the request was answered before the authentication middleware.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user": None, "user_id": None}
    return {"user": user.get_username(), "user_id": user.pk}


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.perf_counter()
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if request.method in KNOWN_METHODS:
                response = self.get_response(request)
            else:
                response = HttpResponseNotAllowed(KNOWN_METHODS)
            access_logger.info(
                "request",
                method=request.method,
                # The path only: a query string may hold what an agent searched for.
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                **_user_fields(request),
            )
        finally:
            structlog.contextvars.reset_contextvars(**request.__dict__.pop("_log_user_tokens", {}))
            structlog.contextvars.reset_contextvars(**tokens)
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # After every middleware's request phase: the session's user is known.
        fields = _user_fields(request)
        if fields["user"] is not None:
            request._log_user_tokens = structlog.contextvars.bind_contextvars(**fields)
        return None
