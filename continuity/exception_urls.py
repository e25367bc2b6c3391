from django.urls import path

from continuity import exception_views as views

app_name = "exceptions"

urlpatterns = [
    path("exceptions/", views.payment_exceptions, name="exceptions"),
    path("exceptions/shipments/<int:occurrence_id>/retry/", views.exception_retry, name="retry"),
    path(
        "exceptions/shipments/<int:occurrence_id>/mark-declined/",
        views.exception_mark_declined,
        name="mark_declined",
    ),
    path(
        "exceptions/subscriptions/<int:subscription_id>/release/",
        views.exception_release_hold,
        name="release_hold",
    ),
    path(
        "exceptions/subscriptions/<int:subscription_id>/card/",
        views.exception_change_card,
        name="change_card",
    ),
    path(
        "exceptions/payments/<int:payment_id>/check/",
        views.exception_order_check,
        name="order_check",
    ),
]
