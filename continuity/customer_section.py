"""What continuity shows on the customer page (customers.page_sections): every
subscription with its shipments, and what the timeline calls a subscription or a
shipment."""

from collections.abc import Collection
from functools import partial

from django.db.models import Prefetch
from rest_framework import serializers

from continuity.models import HoldReason, Occurrence, Subscription, SubscriptionStatus
from customers.models import Customer
from customers.page_sections import CustomerPageRegion, CustomerPageSection
from payments.serializers import CardSerializer


def customer_subscription_list(customer: Customer) -> list[Subscription]:
    """Every subscription of the customer with its program, item, parent order, card and
    shipments in order (two queries)."""
    return list(
        customer.subscriptions.select_related(
            "program", "item", "parent_order", "card"
        ).prefetch_related(
            Prefetch(
                "occurrences",
                queryset=Occurrence.objects.select_related("child_order", "delivery_mode").order_by(
                    "sequence"
                ),
            )
        )
    )


def subscription_labels(subscription_ids: Collection[int]) -> list[tuple[int, str]]:
    """Each subscription's id with its parent order and program ("SO-000123 · VITC")."""
    rows = Subscription.objects.filter(pk__in=subscription_ids).values_list(
        "pk", "parent_order__number", "program__code"
    )
    return [(pk, f"{number} · {code}") for pk, number, code in rows]


def occurrence_labels(occurrence_ids: Collection[int]) -> list[tuple[int, str]]:
    """Each shipment's id with its sequence and parent order ("3 · SO-000123")."""
    rows = Occurrence.objects.filter(pk__in=occurrence_ids).values_list(
        "pk", "sequence", "subscription__parent_order__number"
    )
    return [(pk, f"{sequence} · {number}") for pk, sequence, number in rows]


class CustomerSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    hold_reason = serializers.ChoiceField(choices=HoldReason.choices, allow_blank=True)
    item_number = serializers.CharField(source="item.item_number")
    program = serializers.CharField(source="program.code")
    parent_order = serializers.CharField(source="parent_order.number")
    start_date = serializers.DateField()
    first_shipment_date = serializers.DateField()
    open_ended = serializers.BooleanField()
    card = CardSerializer()


SUBSCRIPTIONS_SECTION = CustomerPageSection(
    name="subscriptions",
    order=30,
    region=CustomerPageRegion.MAIN,
    load=customer_subscription_list,
    template="continuity/partials/customer_subscriptions.html",
    api_field=partial(CustomerSubscriptionSerializer, many=True),
    timeline_labels={
        "continuity.subscription": subscription_labels,
        "continuity.occurrence": occurrence_labels,
    },
)
