"""What orders shows on the customer page (customers.page_sections): the latest sales
orders, the "New sales order" button and its view, and what the timeline calls an order."""

from functools import partial

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework import serializers

from core.actors import Actor
from core.roles import can_take_orders, role_required
from customers.models import Customer
from customers.page_sections import CustomerPageRegion, CustomerPageSection
from customers.selectors import customer_get, customer_page_get
from customers.views import customer_page_render
from orders.models import SalesOrderKind, SalesOrderStatus
from orders.selectors import customer_sales_order_list_recent, sales_order_labels
from orders.services import sales_order_create
from payments.serializers import money_field


class CustomerOrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    kind = serializers.ChoiceField(choices=SalesOrderKind.choices)
    status = serializers.ChoiceField(choices=SalesOrderStatus.choices)
    parent = serializers.CharField(source="parent.number", allow_null=True)
    total = money_field()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)


@require_POST
@role_required(can_take_orders)
def customer_order_new(request, account_number):
    try:
        customer = customer_get(account_number=account_number)
    except Customer.DoesNotExist:
        raise Http404 from None
    try:
        order = sales_order_create(customer=customer, actor=Actor.of_user(request.user))
    except ValidationError as exc:
        return customer_page_render(
            request,
            customer_page_get(account_number=account_number),
            error=" ".join(exc.messages),
            status=400,
        )
    return redirect("orders:detail", number=order.number)


RECENT_ORDERS_SECTION = CustomerPageSection(
    name="recent_orders",
    order=20,
    region=CustomerPageRegion.HISTORY,
    load=customer_sales_order_list_recent,
    template="orders/partials/customer_orders.html",
    api_field=partial(CustomerOrderSerializer, many=True),
    timeline_labels={"orders.salesorder": sales_order_labels},
    actions_template="orders/partials/customer_actions.html",
    urlpatterns=(path("orders/new/", customer_order_new, name="order_new"),),
)
