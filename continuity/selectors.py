from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    Sum,
    Value,
    When,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import FirstValue

from continuity.models import (
    AWAITING_CHARGE,
    CHARGE_IN_FLIGHT,
    NOT_SENT,
    PAYMENT_JOB_STATUSES,
    RUNNING_SUBSCRIPTIONS,
    ContinuityParameters,
    ContinuityProgram,
    HoldReason,
    MoneyAudit,
    Occurrence,
    OccurrenceLine,
    OccurrenceStatus,
    ProgramEvent,
    ShipmentProblem,
    Subscription,
    SubscriptionStatus,
)
from continuity.pricing import occurrence_fresh_price
from continuity.refunds import refunds_owed
from core.dates import business_date
from core.money import CENT, ZERO
from orders.models import SalesOrderStatus
from orders.tax.provider import TaxUnavailable
from orders.tax.selectors import tax_tables_read_once
from payments.models import Payment
from payments.selectors import payment_unanswered_list

# --- What the batch jobs have to do ----------------------------------------------------


def _scoped(occurrences, *, item_id: int | None, parent_order_id: int | None):
    if item_id is not None:
        occurrences = occurrences.filter(subscription__item_id=item_id)
    if parent_order_id is not None:
        occurrences = occurrences.filter(subscription__parent_order_id=parent_order_id)
    return occurrences


def occurrences_due_for_payment(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
):
    """Shipments the payment job takes on run_date: those of an active subscription still
    to be charged, whose ship date minus the payment lead days has come and whose next
    retry (if any) is due; and every shipment whose charge is in flight (charging, or
    its answer unknown), whatever its subscription's state or date, since settling a
    charge already sent is not a new charge."""
    parameters = ContinuityParameters.load()
    latest_ship_date = run_date + datetime.timedelta(days=parameters.payment_lead_days)
    awaiting = Q(
        subscription__status=SubscriptionStatus.ACTIVE,
        status__in=AWAITING_CHARGE,
        ship_date__lte=latest_ship_date,
    ) & (Q(next_payment_attempt_on__isnull=True) | Q(next_payment_attempt_on__lte=run_date))
    occurrences = Occurrence.objects.filter(awaiting | Q(status__in=CHARGE_IN_FLIGHT))
    return _scoped(occurrences, item_id=item_id, parent_order_id=parent_order_id).order_by(
        "ship_date", "pk"
    )


def _child_order_window(run_date: datetime.date) -> datetime.date:
    parameters = ContinuityParameters.load()
    return run_date + datetime.timedelta(days=parameters.child_order_lead_days)


def occurrences_due_for_child_orders(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
):
    """Paid shipments of active subscriptions whose ship date minus the child-order lead
    days has come and that have no child order yet."""
    occurrences = Occurrence.objects.filter(
        subscription__status=SubscriptionStatus.ACTIVE,
        status=OccurrenceStatus.PAID,
        child_order__isnull=True,
        ship_date__lte=_child_order_window(run_date),
    )
    return _scoped(occurrences, item_id=item_id, parent_order_id=parent_order_id).order_by(
        "ship_date", "pk"
    )


# Rows read from the database at a time when a plan streams its due shipments.
_GROUPED_READ_SIZE = 5_000


def occurrences_due_for_child_orders_grouped(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
) -> Iterator[list[int]]:
    """The shipments occurrences_due_for_child_orders selects, as the groups that become
    one child order each, one by one: one group per shipment, or one per subscription
    whose program consolidates, each group where its first shipment (by ship date, then
    id) comes.

    The database sorts each consolidated subscription's shipments together, behind its
    first one, so that the groups come out whole while the rows stream from a
    server-side cursor: a plan of a million shipments is never in memory at once."""
    consolidate = Q(subscription__plan__consolidate=True)
    by_subscription = {
        "partition_by": [F("subscription_id")],
        "order_by": [F("ship_date").asc(), F("pk").asc()],
    }
    rows = (
        occurrences_due_for_child_orders(
            run_date=run_date, item_id=item_id, parent_order_id=parent_order_id
        )
        .annotate(
            consolidates=ExpressionWrapper(consolidate, output_field=models.BooleanField()),
            group_ship_date=Case(
                When(consolidate, then=Window(FirstValue("ship_date"), **by_subscription)),
                default=F("ship_date"),
            ),
            group_first=Case(
                When(consolidate, then=Window(FirstValue("pk"), **by_subscription)),
                default=F("pk"),
            ),
        )
        .order_by("group_ship_date", "group_first", "ship_date", "pk")
        .values_list("pk", "group_first", "consolidates")
        .iterator(chunk_size=_GROUPED_READ_SIZE)
    )
    group: list[int] = []
    group_first = None
    for pk, first, consolidates in rows:
        if group and (not consolidates or first != group_first):
            yield group
            group = []
        group.append(pk)
        group_first = first
    if group:
        yield group


def occurrences_not_ready_for_child_orders(
    *, run_date: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
) -> list[tuple[int, str]]:
    """Due shipments that cannot become child orders, each with its reason."""
    reason = Case(
        When(
            subscription__status=SubscriptionStatus.ON_HOLD,
            subscription__hold_reason=HoldReason.CARD_EXPIRED,
            then=Value(ShipmentProblem.CARD_EXPIRED),
        ),
        When(subscription__status=SubscriptionStatus.ON_HOLD, then=Value(ShipmentProblem.ON_HOLD)),
        When(
            status=OccurrenceStatus.PAYMENT_DECLINED, then=Value(ShipmentProblem.PAYMENT_DECLINED)
        ),
        default=Value(ShipmentProblem.AWAITING_PAYMENT),
        output_field=models.CharField(),
    )
    occurrences = Occurrence.objects.filter(
        subscription__status__in=RUNNING_SUBSCRIPTIONS,
        child_order__isnull=True,
        ship_date__lte=_child_order_window(run_date),
    ).filter(
        Q(status__in=PAYMENT_JOB_STATUSES)
        | Q(status=OccurrenceStatus.PAID, subscription__status=SubscriptionStatus.ON_HOLD)
    )
    occurrences = _scoped(occurrences, item_id=item_id, parent_order_id=parent_order_id)
    return list(occurrences.annotate(reason=reason).order_by("pk").values_list("pk", "reason"))


def subscriptions_to_plan(
    *, through: datetime.date, item_id: int | None = None, parent_order_id: int | None = None
) -> list[int]:
    """Active open-ended subscriptions whose shipments are not planned up to `through`."""
    subscriptions = Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE, open_ended=True
    ).filter(Q(planned_through__isnull=True) | Q(planned_through__lt=through))
    if item_id is not None:
        subscriptions = subscriptions.filter(item_id=item_id)
    if parent_order_id is not None:
        subscriptions = subscriptions.filter(parent_order_id=parent_order_id)
    return list(subscriptions.order_by("pk").values_list("pk", flat=True))


def occurrences_in_payment_trouble(*, limit: int = 200):
    """Shipments whose charge was declined (of subscriptions still running: active or on
    hold) or has an unknown outcome (whatever the subscription's state: an unknown charge
    is settled even on a paused or cancelled subscription): the payment exceptions a
    supervisor works."""
    return (
        Occurrence.objects.filter(
            Q(
                status=OccurrenceStatus.PAYMENT_DECLINED,
                subscription__status__in=RUNNING_SUBSCRIPTIONS,
            )
            | Q(status=OccurrenceStatus.PAYMENT_UNKNOWN)
        )
        .select_related(
            "subscription__customer", "subscription__parent_order", "subscription__card"
        )
        .order_by("ship_date", "pk")[:limit]
    )


def subscriptions_on_hold(*, limit: int = 200):
    return (
        Subscription.objects.filter(status=SubscriptionStatus.ON_HOLD)
        .select_related("customer", "parent_order", "card", "program")
        .order_by("pk")[:limit]
    )


# --- Programs and subscriptions as the API reads them ------------------------------------


def program_list():
    return ContinuityProgram.objects.order_by("code")


def program_get(*, code: str) -> ContinuityProgram:
    """A program with its events, their lines and the items that sell it."""
    return ContinuityProgram.objects.prefetch_related(
        Prefetch(
            "events",
            queryset=ProgramEvent.objects.order_by("event_number").prefetch_related("lines__item"),
        ),
        "items",
    ).get(code=code)


def subscription_list(*, customer_account: str | None = None, status: str | None = None):
    subscriptions = Subscription.objects.select_related(
        "customer", "program", "item", "parent_order", "card"
    ).order_by("-id")
    if customer_account:
        subscriptions = subscriptions.filter(customer__account_number=customer_account)
    if status:
        subscriptions = subscriptions.filter(status=status)
    return subscriptions


def subscription_get(*, subscription_id: int) -> Subscription:
    """A subscription with its shipments (lines, payment, child order), every payment
    made for it (`payment_rows`: the sale at submit, each shipment's charges, their
    refunds and voids) and its child orders (`child_order_rows`), in a fixed number of
    queries."""
    subscription = (
        Subscription.objects.select_related(
            "customer", "program", "item", "parent_order", "card", "payment_method", "ship_to"
        )
        .prefetch_related(
            Prefetch(
                "occurrences",
                queryset=Occurrence.objects.select_related(
                    "child_order", "payment", "delivery_mode"
                )
                .prefetch_related("lines__item")
                .order_by("sequence"),
            )
        )
        .get(pk=subscription_id)
    )
    subscription.payment_rows = list(
        Payment.objects.filter(
            Q(occurrence__subscription=subscription)
            | Q(paid_occurrences__subscription=subscription)
            | Q(original__occurrence__subscription=subscription)
            | Q(original__paid_occurrences__subscription=subscription)
        )
        .distinct()
        .select_related("method", "card", "sales_order", "occurrence")
        .order_by("id")
    )
    child_orders = {
        occurrence.child_order.pk: occurrence.child_order
        for occurrence in subscription.occurrences.all()
        if occurrence.child_order is not None
    }
    subscription.child_order_rows = sorted(child_orders.values(), key=lambda order: order.pk)
    return subscription


def subscription_page_get(*, subscription_id: int) -> Subscription:
    """A subscription with what its page and its actions' pages show: customer, order,
    program, item, card, ship-to and shipments with their child orders and delivery
    modes, in two queries. (Joined to the payment method too, the eight tables cost
    PostgreSQL about 2 ms to plan, ten times the join's execution; the customer's cards
    and addresses and the shipments' payments were read too, and nothing showed them:
    the action forms read the cards and addresses they offer themselves.)"""
    return (
        Subscription.objects.select_related(
            "customer", "parent_order", "program", "item", "card", "ship_to"
        )
        .prefetch_related(
            Prefetch(
                "occurrences",
                queryset=Occurrence.objects.select_related("child_order", "delivery_mode").order_by(
                    "sequence"
                ),
            ),
        )
        .get(pk=subscription_id)
    )


# The shipments not charged yet whose charge the subscription page works out again: the
# next few only, each costing a handful of queries (its lines and the tax tables).
FRESH_CHARGE_SHIPMENTS = 3


@dataclass(frozen=True)
class FreshCharge:
    """What a shipment not charged yet would be charged now (the charge step taxes it
    again first, continuity.charging.prepare): `total`, or `unavailable`, the reason its
    tax cannot be computed (the charge would be refused for the same reason)."""

    total: Decimal | None = None
    unavailable: str = ""


def subscription_shipments_for_action(
    subscription: Subscription, statuses, *, with_unreleased_child_orders: bool = False
) -> list[Occurrence]:
    """The shipments from today on that an action may be about: those in `statuses`, and
    with `with_unreleased_child_orders` those whose child order is not released yet
    (skipping one cancels its child order); by ship date. Chosen among the shipments
    read with the subscription's page (subscription_page_get, child orders joined) when
    it was, else read here."""
    today = business_date()
    if "occurrences" in getattr(subscription, "_prefetched_objects_cache", {}):
        occurrences = subscription.occurrences.all()
    else:
        occurrences = subscription.occurrences.filter(ship_date__gte=today).select_related(
            "child_order"
        )
    return sorted(
        (
            occurrence
            for occurrence in occurrences
            if occurrence.ship_date >= today
            and (
                occurrence.status in statuses
                or (
                    with_unreleased_child_orders
                    and occurrence.status == OccurrenceStatus.CHILD_CREATED
                    and occurrence.child_order is not None
                    and occurrence.child_order.status == SalesOrderStatus.SUBMITTED
                )
            )
        ),
        key=lambda occurrence: (occurrence.ship_date, occurrence.sequence),
    )


def subscription_fresh_charges(
    subscription: Subscription, *, limit: int = FRESH_CHARGE_SHIPMENTS
) -> dict[int, FreshCharge]:
    """For the next `limit` shipments not charged yet (scheduled or declined, in sequence
    order, from the prefetched `subscription.occurrences`): their charge if priced now for
    the subscription's ship-to at the rates of their ship date, by shipment id. Reads
    only; a shipment whose charge is unchanged is left out."""
    waiting = [
        occurrence
        for occurrence in subscription.occurrences.all()
        if occurrence.status in AWAITING_CHARGE
    ][:limit]
    # Their lines in one query (occurrence_fresh_price takes them prefetched), and each
    # answer of the tax tables (the same place, groups and basis for every shipment) once.
    prefetch_related_objects(
        waiting, Prefetch("lines", queryset=OccurrenceLine.objects.order_by("line_number"))
    )
    fresh = {}
    with tax_tables_read_once():
        for occurrence in waiting:
            fresh_charge = _fresh_charge(occurrence, subscription.ship_to)
            if fresh_charge is not None:
                fresh[occurrence.pk] = fresh_charge
    return fresh


def _fresh_charge(occurrence: Occurrence, ship_to) -> FreshCharge | None:
    """A shipment's fresh charge, None when it is the one stored."""
    try:
        price, _lines = occurrence_fresh_price(occurrence, ship_to=ship_to)
    except TaxUnavailable as error:
        return FreshCharge(unavailable=str(error.message))
    if price.total != occurrence.amount:
        return FreshCharge(total=price.total)
    return None


@dataclass(frozen=True)
class ForecastDay:
    """One day's charges (count, whole charges, of which delivery, tax) and shipments, in
    one currency."""

    day: datetime.date
    charges: int
    charge_amount: Decimal
    charge_delivery: Decimal
    charge_tax: Decimal
    shipments: int
    shipment_amount: Decimal


def forecast_currencies() -> list[str]:
    """The currencies of shipments of active subscriptions, the default one first: the
    forecast shows one at a time (amounts of two currencies are never added)."""
    found = set(
        Occurrence.objects.filter(subscription__status=SubscriptionStatus.ACTIVE)
        .order_by()
        .values_list("currency", flat=True)
        .distinct()
    )
    default = settings.CURRENCY
    return [default, *sorted(found - {default})]


def forecast(
    *,
    start: datetime.date,
    days: int = 60,
    item_id: int | None = None,
    currency: str | None = None,
) -> list[ForecastDay]:
    """Charges and shipments expected per day from `start`, for `days` days, of shipments
    in `currency` (None: the default currency). Amounts are shipments' whole charges
    (goods, delivery and tax), with their delivery and tax beside them.

    A shipment not yet paid is charged on its ship date minus the payment lead days (a
    declined one on its next attempt; one already overdue, on the start day); a shipment
    ships on its ship date. Subscriptions that are not active are left out: nothing is
    charged or sent for them until an agent acts.
    """
    end = start + datetime.timedelta(days=days - 1)
    lead = datetime.timedelta(days=ContinuityParameters.load().payment_lead_days)
    running = Occurrence.objects.filter(
        subscription__status=SubscriptionStatus.ACTIVE, currency=currency or settings.CURRENCY
    )
    if item_id is not None:
        running = running.filter(subscription__item_id=item_id)
    charges: dict[datetime.date, list] = {}
    to_charge = running.filter(
        status__in=PAYMENT_JOB_STATUSES,
        ship_date__lte=end + lead,
    )
    for ship_date, retry_on, count, amount, delivery, tax in (
        to_charge.values("ship_date", "next_payment_attempt_on")
        .annotate(
            count=Count("pk"),
            amount=Sum("amount"),
            delivery=Sum("delivery_amount"),
            tax=Sum("tax_amount"),
        )
        .values_list("ship_date", "next_payment_attempt_on", "count", "amount", "delivery", "tax")
    ):
        day = max(retry_on or ship_date - lead, start)
        if day <= end:
            totals = charges.setdefault(day, [0, ZERO, ZERO, ZERO])
            totals[0] += count
            totals[1] += amount
            totals[2] += delivery
            totals[3] += tax
    shipments = {
        ship_date: (count, amount)
        for ship_date, count, amount in running.filter(ship_date__range=(start, end))
        .exclude(status__in=NOT_SENT)
        .values("ship_date")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .values_list("ship_date", "count", "amount")
    }
    result = []
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        charge_count, charge_amount, charge_delivery, charge_tax = charges.get(
            day, (0, ZERO, ZERO, ZERO)
        )
        shipment_count, shipment_amount = shipments.get(day, (0, ZERO))
        result.append(
            ForecastDay(
                day,
                charge_count,
                charge_amount,
                charge_delivery,
                charge_tax,
                shipment_count,
                shipment_amount,
            )
        )
    return result


@dataclass(frozen=True)
class PaymentExceptions:
    """Everything a supervisor works on the payment exceptions page (and the API)."""

    occurrences: list[Occurrence]
    holds: list[Subscription]
    orders_unanswered: list
    refunds_owed: list
    money_audit: MoneyAudit | None


def payment_exceptions_list(*, limit: int = 200) -> PaymentExceptions:
    orders_unanswered = (
        payment_unanswered_list(older_than=datetime.timedelta(seconds=60))
        .filter(occurrence__isnull=True, operation="sale")
        .select_related("sales_order__customer")[:limit]
    )
    owed = list(
        refunds_owed().select_related(
            "occurrence__subscription__customer",
            "occurrence__subscription__parent_order",
            "payment",
        )[:limit]
    )
    for allocation in owed:
        # In Python: SQLite hands the subtraction back as a float.
        allocation.owed = (allocation.amount - Decimal(allocation.refunded)).quantize(CENT)
    return PaymentExceptions(
        occurrences=list(occurrences_in_payment_trouble(limit=limit)),
        holds=list(subscriptions_on_hold(limit=limit)),
        orders_unanswered=list(orders_unanswered),
        refunds_owed=owed,
        money_audit=MoneyAudit.objects.order_by("-id").first(),
    )
