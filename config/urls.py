from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path, re_path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularSwaggerSplitView

from config.health import HealthView
from core.forms import SignInForm
from core.rest import UnknownEndpoint
from core.views import SchemaView, metrics

# Unhandled errors: JSON in the API's error shape under /api/, Django's page elsewhere.
handler500 = "core.views.server_error"

urlpatterns = [
    # The admin signs in through the same page: one sign-in for every role, one lock
    # after repeated failures (django-axes, AXES_* in config/settings.py).
    path(
        "admin/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm),
        name="admin-login",
    ),
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language can be switched before signing in, on the login page.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    # The REST API. Its views authenticate themselves (token or session) and answer 401
    # in JSON; the docs are pages for people, so they send anonymous visitors to sign in.
    # Monitoring, without signing in: /metrics and /health/ check the caller themselves.
    # /health/live/ (for load balancers) is answered by config.health.LiveHealthMiddleware,
    # before any URL is resolved.
    path("health/", login_not_required(HealthView.as_view()), name="health"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/", include(("config.api_urls", "api"))),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves its script from a URL, not inline: the CSP allows no inline.
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    re_path(r"^api/", UnknownEndpoint.as_view()),
    path("orders/", include("orders.urls")),
    path("batch/", include("batch.urls")),
    path("payments/", include("continuity.exception_urls")),
    path("continuity/", include("continuity.urls")),
    path("", include("customers.urls")),
]
