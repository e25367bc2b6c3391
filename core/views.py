"""Views of the project as a whole: the throttled sign-in page and the 500 handler."""

import hashlib
import math
import time

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

from core.rest import server_error_response


def client_address(request) -> str:
    """The client's address as the last trusted proxy saw it (PROXY_COUNT, as DRF's
    NUM_PROXIES), else the peer's: a client cannot choose the address it is counted by."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if settings.PROXY_COUNT and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        return addresses[-min(settings.PROXY_COUNT, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


class LoginFailures:
    """Failed sign-ins counted in the cache, in fixed windows that start with the first
    failure: per address and user name (LOGIN_FAILURE_LIMIT), and per address for any
    user name (four times as many), so that neither one password guessed many times nor
    many user names tried from one place get far."""

    def __init__(self, request, username: str):
        address = client_address(request)
        name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        self.window = settings.LOGIN_FAILURE_WINDOW_MINUTES * 60
        self.limits = {
            f"login-failures:{address}:{name}": settings.LOGIN_FAILURE_LIMIT,
            f"login-failures:{address}": settings.LOGIN_FAILURE_LIMIT * 4,
        }
        self.user_key = next(iter(self.limits))

    def seconds_refused(self) -> int:
        """0 when signing in may be tried; otherwise how long the refusal lasts."""
        now = time.time()
        waits = [
            math.ceil(self.window - (now - cache.get(f"{key}:since", now)))
            for key, limit in self.limits.items()
            if cache.get(key, 0) >= limit
        ]
        return max([0, *waits])

    def record(self) -> None:
        for key in self.limits:
            if cache.add(key, 0, self.window):
                cache.set(f"{key}:since", time.time(), self.window)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr: a new window
                cache.set(key, 1, self.window)
                cache.set(f"{key}:since", time.time(), self.window)

    def clear(self) -> None:
        cache.delete_many([self.user_key, f"{self.user_key}:since"])


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing without checking the password while throttled."""

    def __init__(self, request=None, *args, refused_for: int = 0, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.refused_for = refused_for

    def clean(self):
        if self.refused_for:
            minutes = math.ceil(self.refused_for / 60)
            raise ValidationError(
                ngettext(
                    "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
                    "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="throttled",
            )
        return super().clean()


class ThrottledLoginView(LoginView):
    """The sign-in page (django.contrib.auth's LoginView), answering 429 after too many
    failed attempts (LoginFailures) until the window ends."""

    template_name = "registration/login.html"
    form_class = ThrottledAuthenticationForm

    def post(self, request, *args, **kwargs):
        self.failures = LoginFailures(request, request.POST.get("username", ""))
        return super().post(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        if self.request.method == "POST":
            kwargs["refused_for"] = self.failures.seconds_refused()
        return kwargs

    def form_valid(self, form):
        self.failures.clear()
        return super().form_valid(form)

    def form_invalid(self, form):
        if form.refused_for:
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(form.refused_for)
            return response
        if form.has_error("__all__", "invalid_login"):
            self.failures.record()
        return super().form_invalid(form)


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
