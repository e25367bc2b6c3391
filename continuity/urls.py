from django.urls import path

from continuity import views

app_name = "continuity"

urlpatterns = [
    path("forecast/", views.forecast_page, name="forecast"),
    path("subscriptions/<int:subscription_id>/", views.subscription_detail, name="subscription"),
    path(
        "subscriptions/<int:subscription_id>/cards/",
        views.subscription_card_add,
        name="card_add",
    ),
    path(
        "subscriptions/<int:subscription_id>/addresses/",
        views.subscription_address_add,
        name="address_add",
    ),
    path(
        "subscriptions/<int:subscription_id>/<str:action>/",
        views.subscription_action,
        name="action",
    ),
]
