"""/api/v1/: the REST API (docs at /api/docs/, schema at /api/schema/, see config/urls.py).
One view per operation; /batch-runs/ joins its two (list and start) in BatchRunsApi, and
/sales-orders/ its two (the warehouse's pick list and order entry's create) in
SalesOrdersApi."""

from django.urls import path, register_converter

from batch.apis import BatchRunDetailApi, BatchRunResumeApi, BatchRunsApi
from continuity.apis import (
    PaymentExceptionsApi,
    ProgramDetailApi,
    ProgramListApi,
    SubscriptionActionApi,
    SubscriptionDetailApi,
    SubscriptionListApi,
    SubscriptionReleaseHoldApi,
)
from continuity.lookup_apis import ReasonCodeLookupApi, SalesOrderLookupApi
from core.apis import TokenObtainApi
from customers.apis import CustomerDetailApi, CustomerSearchApi
from orders.apis import (
    ItemDetailApi,
    ItemListApi,
    SalesOrderCompleteApi,
    SalesOrderDeliveryModeSetApi,
    SalesOrderDetailApi,
    SalesOrderLineAddApi,
    SalesOrderPaymentSetApi,
    SalesOrderSubmitApi,
)
from orders.invoice_apis import InvoiceDetailApi
from orders.lookup_apis import ContinuityItemLookupApi, ItemLookupApi
from orders.warehouse_apis import (
    SalesOrderReleaseApi,
    SalesOrdersApi,
    SalesOrderShipmentCreateApi,
)
from payments.apis import CustomerCardAddApi
from payments.lookup_apis import CardLookupApi, PaymentMethodLookupApi


class KeyConverter:
    """An account, item, order or program number: any text but a slash or a control
    character (PostgreSQL refuses NUL in a query; such a path is simply not found)."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(KeyConverter, "key")

urlpatterns = [
    path("auth/token/", TokenObtainApi.as_view(), name="auth-token"),
    path("customers/", CustomerSearchApi.as_view(), name="customer-search"),
    path("customers/<key:account_number>/", CustomerDetailApi.as_view(), name="customer-detail"),
    path(
        "customers/<key:account_number>/cards/",
        CustomerCardAddApi.as_view(),
        name="customer-card-add",
    ),
    path("items/", ItemListApi.as_view(), name="item-list"),
    path("items/<key:item_number>/", ItemDetailApi.as_view(), name="item-detail"),
    path("continuity-programs/", ProgramListApi.as_view(), name="program-list"),
    path("continuity-programs/<key:code>/", ProgramDetailApi.as_view(), name="program-detail"),
    path("sales-orders/", SalesOrdersApi.as_view(), name="sales-orders"),
    path("sales-orders/<key:number>/", SalesOrderDetailApi.as_view(), name="sales-order-detail"),
    path(
        "sales-orders/<key:number>/lines/",
        SalesOrderLineAddApi.as_view(),
        name="sales-order-line-add",
    ),
    path(
        "sales-orders/<key:number>/delivery-mode/",
        SalesOrderDeliveryModeSetApi.as_view(),
        name="sales-order-delivery-mode-set",
    ),
    path(
        "sales-orders/<key:number>/complete/",
        SalesOrderCompleteApi.as_view(),
        name="sales-order-complete",
    ),
    path(
        "sales-orders/<key:number>/payments/",
        SalesOrderPaymentSetApi.as_view(),
        name="sales-order-payment-set",
    ),
    path(
        "sales-orders/<key:number>/submit/",
        SalesOrderSubmitApi.as_view(),
        name="sales-order-submit",
    ),
    path(
        "sales-orders/<key:number>/shipments/",
        SalesOrderShipmentCreateApi.as_view(),
        name="sales-order-shipment-create",
    ),
    path(
        "sales-orders/<key:number>/release/",
        SalesOrderReleaseApi.as_view(),
        name="sales-order-release",
    ),
    # Invoices (one per warehouse shipment).
    path("invoices/<key:number>/", InvoiceDetailApi.as_view(), name="invoice-detail"),
    path("subscriptions/", SubscriptionListApi.as_view(), name="subscription-list"),
    path(
        "subscriptions/<int:subscription_id>/",
        SubscriptionDetailApi.as_view(),
        name="subscription-detail",
    ),
    # Before the generic action path: releasing a hold is a supervisor's, not an action.
    path(
        "subscriptions/<int:subscription_id>/release-hold/",
        SubscriptionReleaseHoldApi.as_view(),
        name="subscription-release-hold",
    ),
    path(
        "subscriptions/<int:subscription_id>/<str:action>/",
        SubscriptionActionApi.as_view(),
        name="subscription-action",
    ),
    path("batch-runs/", BatchRunsApi.as_view(), name="batch-runs"),
    path("batch-runs/<int:run_id>/", BatchRunDetailApi.as_view(), name="batch-run-detail"),
    path("batch-runs/<int:run_id>/resume/", BatchRunResumeApi.as_view(), name="batch-run-resume"),
    path("payment-exceptions/", PaymentExceptionsApi.as_view(), name="payment-exceptions"),
    # Type-ahead lookups (core.lookups, docs/api.md#lookups): one per field that offers a
    # list, each served by the app that owns the data.
    path(
        "lookups/continuity-items/",
        ContinuityItemLookupApi.as_view(),
        name="lookup-continuity-items",
    ),
    path("lookups/sales-orders/", SalesOrderLookupApi.as_view(), name="lookup-sales-orders"),
    path("lookups/items/", ItemLookupApi.as_view(), name="lookup-items"),
    path(
        "lookups/payment-methods/",
        PaymentMethodLookupApi.as_view(),
        name="lookup-payment-methods",
    ),
    path("lookups/reason-codes/", ReasonCodeLookupApi.as_view(), name="lookup-reason-codes"),
    path("lookups/cards/", CardLookupApi.as_view(), name="lookup-cards"),
]
