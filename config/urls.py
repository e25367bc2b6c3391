from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language can be switched before signing in, on the login page.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("orders/", include("orders.urls")),
    path("batch/", include("batch.urls")),
    path("payments/", include("payments.urls")),
    path("continuity/", include("continuity.urls")),
    path("", include("customers.urls")),
]
