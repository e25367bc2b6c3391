from django.urls import path

from orders import invoice_views, shipment_upload_views, views

app_name = "orders"

urlpatterns = [
    # Before the order's own paths: these are not order numbers.
    path("shipments/upload/", shipment_upload_views.shipment_upload, name="shipment_upload"),
    path(
        "shipments/upload/<uuid:token>/",
        shipment_upload_views.shipment_upload_preview,
        name="shipment_upload_preview",
    ),
    path(
        "shipments/upload/<uuid:token>/confirm/",
        shipment_upload_views.shipment_upload_confirm,
        name="shipment_upload_confirm",
    ),
    path(
        "shipments/upload/<uuid:token>/result/",
        shipment_upload_views.shipment_upload_result,
        name="shipment_upload_result",
    ),
    path("invoices/<str:number>/", invoice_views.invoice_detail, name="invoice"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/lines/", views.order_line_add, name="line_add"),
    path(
        "<str:number>/lines/<int:line_number>/remove/", views.order_line_remove, name="line_remove"
    ),
    path(
        "<str:number>/lines/<int:line_number>/start-date/",
        views.order_line_start_date,
        name="line_start_date",
    ),
    path("<str:number>/delivery-mode/", views.order_delivery_mode_set, name="delivery_mode_set"),
    path("<str:number>/complete/", views.order_complete, name="complete"),
    path("<str:number>/summary/", views.order_summary, name="summary"),
    path("<str:number>/cards/", views.order_card_add, name="card_add"),
    path("<str:number>/payment/", views.order_payment_set, name="payment_set"),
    path("<str:number>/submit/", views.order_submit, name="submit"),
    path("<str:number>/release/", views.order_release, name="release"),
]
