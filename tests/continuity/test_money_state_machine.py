"""The money state machine, as a stateful property test.

Hypothesis interleaves, on PostgreSQL, whatever touches a shipment's money: agents'
actions (skip, reschedule, pause, resume, change card, change ship-to, cancel, reactivate),
supervisors' (release hold, mark declined, retry now), new orders (add line, complete,
pay, submit), the payment job split at the gateway call (prepare, send and record are
separate steps, their charges kept in flight in lists and finished in any order, or
never: a process that died), refund passes, child-order runs, `reconcile_payments`, and
time passing (days, or the gateway claim running out). Every card of the simulator takes
part: approve, soft and hard declines, timeouts before and after the charge, processing
error, approve after declines, and a card that expires as the clock moves.

After every step the money audit (continuity.money_audit) must find nothing. Services
may refuse (ServiceError, ValidationError); anything else fails the test.

Isolation: each example runs inside a savepoint of both connections (`default`, and
`gateway`, the simulator's ledger) that is rolled back at its end, so each starts from
the demo data. Sequences do not roll back, so idempotency keys (made of row ids) never
meet a previous example's.

`make test` runs a bounded, derandomized number of examples (HYPOTHESIS_MAX_EXAMPLES,
default 25, of at most HYPOTHESIS_STEP_COUNT steps, default 30). `make soak` runs
the same machine for SOAK_SECONDS with random seeds (tests/continuity/soak_money.py,
which pytest collects only when named) and prints "examples run: N, findings: M".
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections import Counter
from unittest import mock

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import continuity.refunds
import orders.services
from continuity import charging
from continuity.child_orders import child_orders_create
from continuity.dunning import (
    occurrence_retry_now,
    payment_unknown_mark_declined,
    subscription_change_card,
    subscription_release_hold,
)
from continuity.models import (
    CHARGE_IN_FLIGHT,
    ContinuityParameters,
    Occurrence,
    Subscription,
)
from continuity.money_audit import money_audit
from continuity.planning import horizon_date
from continuity.refunds import occurrences_refund_due
from continuity.selectors import (
    occurrences_due_for_child_orders_grouped,
    occurrences_due_for_payment,
    subscriptions_to_plan,
)
from continuity.services import subscriptions_materialise
from continuity.subscription_actions import actions_all
from continuity.subscription_actions.pause import subscriptions_resume_due
from core.actors import Actor
from core.dates import business_date
from core.errors import ServiceError
from customers.models import Address, AddressKind
from orders.models import SalesOrder, SalesOrderStatus
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_line_add,
    sales_order_payment_set,
    sales_order_submit,
)
from payments.gateways.base import GatewayResult
from payments.models import UNANSWERED_STATUSES, Payment
from payments.services import card_add, payment_reconcile
from tests.payments.support import (
    APPROVE,
    APPROVE_AFTER_DECLINES,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS,
    LOST_CARD,
    PROCESSING_ERROR,
    SOFT_DECLINE,
    STOLEN_CARD,
    TIMEOUT_AFTER_CHARGE,
    TIMEOUT_BEFORE_CHARGE,
    karen,
)

pytestmark = pytest.mark.django_db

# Every behaviour of the simulator, and a card that expires within two months.
CARDS = {
    "approve": APPROVE,
    "soft_decline": SOFT_DECLINE,
    "insufficient_funds": INSUFFICIENT_FUNDS,
    "lost": LOST_CARD,
    "stolen": STOLEN_CARD,
    "expired_at_gateway": EXPIRED_CARD,
    "processing_error": PROCESSING_ERROR,
    "timeout_after_charge": TIMEOUT_AFTER_CHARGE,
    "timeout_before_charge": TIMEOUT_BEFORE_CHARGE,
    "approve_after_declines": APPROVE_AFTER_DECLINES,
    "expiring_soon": APPROVE,
}
CARD_NAMES = sorted(CARDS)
# Items an order may take: the three programs (each shipment charged, billed up front,
# open-ended with a start date) and plain items.
ITEMS = ["88000", "88001", "88002", "0013", "0014", "0015"]
REASON = "CUSTOMER"  # the reason code that fits every action

# Where a process may die around a gateway call.
DEATHS = [None, "before_send", "after_send"]

EXPECTED_REFUSALS = (ServiceError, ValidationError)


class ProcessDied(Exception):
    """A worker, web process or agent's request killed around a gateway call."""


def _dying(real, when: str | None):
    """`real` (a send to the gateway), made to die before or after the call."""

    def send(*args, **kwargs):
        if when == "before_send":
            raise ProcessDied(when)
        answer = real(*args, **kwargs)
        if when == "after_send":
            raise ProcessDied(when)
        return answer

    return send


# What the examples did (refusals, answers, statuses reached): printed by the soak, and
# by the bounded test under `pytest -s`, to show the machine reaches every state.
SEEN: Counter[str] = Counter()


def _note(what: str) -> None:
    SEEN[what] += 1


def _pick(items: list, index: int):
    return items[index % len(items)]


class MoneyMachine(RuleBasedStateMachine):
    """One example: Karen with a card of every kind, and the subscriptions Hypothesis
    sells her, acted on by everyone at once."""

    examples = 0  # machines started, for the soak's report

    def __init__(self):
        super().__init__()
        type(self).examples += 1
        _note("example")
        self._stack = contextlib.ExitStack()
        # The clock: moves forward only, by days (payment runs come due) or by the
        # gateway claim's length (a held key may be settled or sent again).
        start = timezone.now().replace(microsecond=0)
        self.clock = self._stack.enter_context(time_machine.travel(start, tick=True))
        # Both connections in a savepoint rolled back at teardown: the next example
        # starts from the demo data, its ledger included.
        self._stack.enter_context(transaction.atomic(using="gateway"))
        self._stack.enter_context(transaction.atomic(using="default"))
        users = get_user_model().objects
        self.agent = Actor.of_user(users.get(username="agent"))
        self.supervisor = Actor.of_user(users.get(username="supervisor"))
        self.job = Actor.job("property test")
        self.cards: dict[str, int] = {}
        self.addresses: list[int] = []
        # The payment job's charges between its steps: prepared (sale and key committed,
        # not sent), and sent (the gateway's answer not recorded yet).
        self.prepared: list[tuple[charging.PreparedCharge, datetime.date]] = []
        self.sent: list[tuple[charging.PreparedCharge, GatewayResult | None, datetime.date]] = []

    def teardown(self):
        try:
            transaction.set_rollback(True, using="default")
            transaction.set_rollback(True, using="gateway")
        finally:
            self._stack.close()

    # --- Helpers -------------------------------------------------------------------------

    @staticmethod
    def _refusable(call, *args, **kwargs):
        """Call a service; a refusal (conflict, bad input, decline) is a fine answer."""
        try:
            result = call(*args, **kwargs)
        except EXPECTED_REFUSALS as error:
            _note(f"{call.__name__} refused: {type(error).__name__}")
            return None
        _note(f"{call.__name__} done")
        return result

    def _subscription_ids(self) -> list[int]:
        return list(Subscription.objects.order_by("pk").values_list("pk", flat=True))

    def _occurrence_ids(self, **filters) -> list[int]:
        return list(
            Occurrence.objects.filter(**filters).order_by("pk").values_list("pk", flat=True)
        )

    def _sell(self, item_number: str, card: str, **line) -> None:
        order = sales_order_create(customer=karen(), actor=self.agent)
        sales_order_line_add(order_id=order.pk, item_number=item_number, actor=self.agent, **line)
        sales_order_complete(order_id=order.pk, actor=self.agent)
        sales_order_payment_set(
            order_id=order.pk, method_code="Visa", card_id=self.cards[card], actor=self.agent
        )
        sales_order_submit(order_id=order.pk, actor=self.agent)

    # --- Start ---------------------------------------------------------------------------

    @initialize(
        programs=st.lists(
            st.tuples(st.sampled_from(["88000", "88001", "88002"]), st.sampled_from(CARD_NAMES)),
            min_size=1,
            max_size=3,
            unique_by=lambda program: program[0],
        ),
        lead_days=st.sampled_from([5, 12, 35]),
    )
    def start(self, programs, lead_days):
        """Karen's cards, and her subscriptions: each sold on a card that approves, then
        moved to the card its later charges meet. The payment lead days (5 by default)
        decide how soon the next shipment is due: 35 makes next month's due today."""
        ContinuityParameters.objects.filter(pk=ContinuityParameters.SINGLETON_ID).update(
            payment_lead_days=lead_days
        )
        today = business_date()
        for name, number in CARDS.items():
            if name == "expiring_soon":
                expires = today + datetime.timedelta(days=40)
                month, year = expires.month, expires.year
            else:
                month, year = 12, today.year + 3
            self.cards[name] = card_add(
                customer=karen(),
                card_number=number,
                expiry_month=month,
                expiry_year=year,
                security_code="737",
                name_on_card="Karen Berg",
                actor=self.agent,
            ).pk
        customer = karen()
        other = Address.objects.create(
            customer=customer,
            kind=AddressKind.SHIPPING,
            name="Karen Berg",
            street="9 Harbor Way",
            city="Tacoma",
            state="WA",
            postal_code="98402",
        )
        self.addresses = list(
            Address.objects.filter(customer=customer, kind=AddressKind.SHIPPING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        assert other.pk in self.addresses
        for program, card in programs:
            line = {"start_date": today + datetime.timedelta(days=3)} if program == "88002" else {}
            self._sell(program, "approve", **line)
            if card != "approve":
                subscription_change_card(
                    subscription_id=Subscription.objects.latest("pk").pk,
                    card_id=self.cards[card],
                    actor=self.agent,
                )

    # --- The books, after every step ----------------------------------------------------

    @invariant()
    def books_are_right(self):
        _note("step")
        audit = money_audit(source="property test", save=False)
        lines = "\n".join(
            f"{finding['kind']}: {finding['subject']}: {finding['detail']}"
            for finding in audit.findings
        )
        assert audit.finding_count == 0, f"money audit findings:\n{lines}"
        for status in Occurrence.objects.values_list("status", flat=True).distinct():
            _note(f"shipment {status}")
        for operation, status in (
            Payment.objects.values_list("operation", "status").distinct().order_by()
        ):
            _note(f"{operation} {status}")

    # --- The clock -----------------------------------------------------------------------

    @rule(days=st.integers(min_value=1, max_value=35))
    def days_pass(self, days):
        self.clock.shift(datetime.timedelta(days=days))

    @rule()
    def gateway_claims_run_out(self):
        self.clock.shift(
            datetime.timedelta(seconds=django_settings.PAYMENT_GATEWAY_CLAIM_SECONDS + 1)
        )

    # --- Agents ----------------------------------------------------------------------------

    def _subscription_of(self, pick: int) -> int:
        return _pick(self._subscription_ids(), pick)

    def _occurrence_of(self, subscription_id: int, pick: int | None) -> int | None:
        if pick is None:
            return None  # the service's default: the next shipment
        return _pick(self._occurrence_ids(subscription_id=subscription_id), pick)

    @precondition(lambda self: Subscription.objects.exists())
    @rule(
        action=st.sampled_from([action for action in actions_all() if action.previewed]),
        subscription=st.integers(min_value=0),
        occurrence=st.none() | st.integers(min_value=0),
        days=st.none() | st.integers(min_value=0, max_value=60),
        card=st.sampled_from(CARD_NAMES),
        address=st.integers(min_value=0),
        die=st.sampled_from(DEATHS),
    )
    def agent_acts(self, action, subscription, occurrence, days, card, address, die):
        """One of the agent's actions (as declared in continuity.subscription_actions) on a
        subscription; those that refund (skip, cancel) may die around their refund's gateway
        call."""
        subscription_id = self._subscription_of(subscription)
        later = None if days is None else business_date() + datetime.timedelta(days=days)
        arguments = {
            "skip": {"occurrence_id": self._occurrence_of(subscription_id, occurrence)},
            "reschedule": {
                "occurrence_id": self._occurrence_of(subscription_id, occurrence),
                "new_date": later or business_date(),
            },
            "pause": {"until": later},
            "change_card": {"card_id": self.cards[card]},
            "change_ship_to": {"address_id": _pick(self.addresses, address)},
        }.get(action.name, {})
        with self._refund_dying(die):
            self._refusable(
                action.service,
                subscription_id=subscription_id,
                actor=self.agent,
                reason_code=REASON,
                **arguments,
            )

    @contextlib.contextmanager
    def _refund_dying(self, die: str | None):
        """A refund made after the action's commit, its process dying around the call."""
        if die is None:
            yield
            return
        dying = _dying(continuity.refunds.reversal_send, die)
        with (
            mock.patch.object(continuity.refunds, "reversal_send", dying),
            contextlib.suppress(ProcessDied),
        ):
            yield

    # --- Supervisors ---------------------------------------------------------------------

    @precondition(lambda self: Subscription.objects.exists())
    @rule(
        action=st.sampled_from(["release_hold", "mark_declined", "retry_now"]),
        pick=st.integers(min_value=0),
    )
    def supervisor_acts(self, action, pick):
        """Release a hold (any subscription), mark declined (a shipment in flight, if
        any), retry now (any shipment)."""
        if action == "release_hold":
            self._refusable(
                subscription_release_hold,
                subscription_id=self._subscription_of(pick),
                actor=self.supervisor,
                reason="Customer called",
            )
            return
        if action == "mark_declined":
            in_flight = self._occurrence_ids(status__in=CHARGE_IN_FLIGHT)
            self._refusable(
                payment_unknown_mark_declined,
                occurrence_id=_pick(in_flight or self._occurrence_ids(), pick),
                actor=self.supervisor,
                reason="Bank says declined",
            )
            return
        self._refusable(
            occurrence_retry_now,
            occurrence_id=_pick(self._occurrence_ids(), pick),
            actor=self.supervisor,
            reason="Customer asked",
        )

    # --- New orders ----------------------------------------------------------------------

    def _open_orders(self) -> list[int]:
        return list(
            SalesOrder.objects.filter(status=SalesOrderStatus.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def _line_add(self, order_id: int, item: str):
        line = {}
        if item == "88002":  # the program that asks for its start date
            line = {"start_date": business_date() + datetime.timedelta(days=5)}
        self._refusable(
            sales_order_line_add, order_id=order_id, item_number=item, actor=self.agent, **line
        )

    def _pay_and_submit(self, order_id: int, card: str | None, die: str | None) -> None:
        if card is not None:
            self._refusable(
                sales_order_payment_set,
                order_id=order_id,
                method_code="Visa",
                card_id=self.cards[card],
                actor=self.agent,
            )
        dying = _dying(orders.services.payment_sale_send, die)
        with (
            mock.patch.object(orders.services, "payment_sale_send", dying),
            contextlib.suppress(ProcessDied),
        ):
            self._refusable(sales_order_submit, order_id=order_id, actor=self.agent)

    @rule(
        items=st.lists(st.sampled_from(ITEMS), min_size=1, max_size=2),
        card=st.sampled_from(CARD_NAMES),
        die=st.sampled_from(DEATHS),
    )
    def order_place(self, items, card, die):
        """An agent's whole order: lines, complete, pay, submit (its process may die
        around the gateway call)."""
        order = sales_order_create(customer=karen(), actor=self.agent)
        for item in items:
            self._line_add(order.pk, item)
        self._refusable(sales_order_complete, order_id=order.pk, actor=self.agent)
        self._pay_and_submit(order.pk, card, die)

    @precondition(lambda self: SalesOrder.objects.filter(status=SalesOrderStatus.OPEN).exists())
    @rule(
        order=st.integers(min_value=0),
        item=st.none() | st.sampled_from(ITEMS),
        card=st.none() | st.sampled_from(CARD_NAMES),
        die=st.sampled_from(DEATHS),
        submit=st.booleans(),
    )
    def order_change(self, order, item, card, die, submit):
        """An open order (declined, unknown, or its process died): add a line and
        complete it again, and/or pay it by another card and submit it again."""
        order_id = _pick(self._open_orders(), order)
        if item is not None:
            self._line_add(order_id, item)
            self._refusable(sales_order_complete, order_id=order_id, actor=self.agent)
        if submit:
            self._pay_and_submit(order_id, card, die)

    # --- The payment job, split at the gateway call --------------------------------------

    @rule(
        days_later=st.integers(min_value=0, max_value=31),
        ahead=st.integers(min_value=-3, max_value=django_settings.BATCH_MAX_DAYS_AHEAD),
        one=st.none() | st.integers(min_value=0),
    )
    def payment_run_prepare(self, days_later, ahead, one):
        """A payment run's chunk, up to its gateway calls, `days_later` days after the
        last step: what a run dated `ahead` days from today (a catch-up run when
        negative) plans, all of it or `one` shipment."""
        self.prepared += self._prepare(days_later, ahead, one)

    @rule(
        days_later=st.integers(min_value=0, max_value=31),
        ahead=st.integers(min_value=-3, max_value=django_settings.BATCH_MAX_DAYS_AHEAD),
    )
    def payment_run_whole(self, days_later, ahead):
        """A payment run's chunk from start to end, nobody acting in between."""
        answers = [
            (charge, charging.charge_send(charge))
            for charge, _ in self._prepare(days_later, ahead, None)
        ]
        run_date = business_date() + datetime.timedelta(days=ahead)
        for recorded in charging.charges_record(answers=answers, run_date=run_date, actor=self.job):
            _note(f"recorded: {recorded.outcome}")

    def _prepare(
        self, days_later, ahead, one
    ) -> list[tuple[charging.PreparedCharge, datetime.date]]:
        """As the job: pauses that ended are resumed, open-ended subscriptions planned to
        the horizon, then the sales of what is due committed with their keys."""
        self.clock.shift(datetime.timedelta(days=days_later))
        run_date = business_date() + datetime.timedelta(days=ahead)
        subscriptions_resume_due(actor=self.job)
        through = horizon_date(run_date=run_date)
        planned = subscriptions_to_plan(through=through)
        if planned:
            subscriptions_materialise(subscription_ids=planned, through=through, actor=self.job)
        due = list(occurrences_due_for_payment(run_date=run_date).values_list("pk", flat=True))
        _note(f"payment run: {'shipments due' if due else 'nothing due'}")
        if not due:
            return []
        if one is not None:
            due = [_pick(due, one)]
        preparation = charging.charges_prepare(
            occurrence_ids=due, run_date=run_date, actor=self.job
        )
        _note(f"prepared {len(preparation.prepared)}")
        return [(charge, run_date) for charge in preparation.prepared]

    @precondition(lambda self: self.prepared)
    @rule(pick=st.integers(min_value=0))
    def payment_run_send(self, pick):
        charge, run_date = self.prepared.pop(pick % len(self.prepared))
        answer = charging.charge_send(charge)
        _note(f"sent: {'no answer' if answer is None else answer.decline_code or 'approved'}")
        self.sent.append((charge, answer, run_date))

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(min_value=0), delivered_again=st.booleans())
    def payment_run_record(self, pick, delivered_again):
        """Record one answer; `delivered_again`: the chunk records it a second time later."""
        index = pick % len(self.sent)
        charge, answer, run_date = self.sent[index] if delivered_again else self.sent.pop(index)
        for recorded in charging.charges_record(
            answers=[(charge, answer)], run_date=run_date, actor=self.job
        ):
            _note(f"recorded: {recorded.outcome}")

    @precondition(lambda self: self.prepared or self.sent)
    @rule(pick=st.integers(min_value=0), after_send=st.booleans())
    def payment_run_dies(self, pick, after_send):
        """The worker dies: before the gateway call (a charge prepared, never sent) or
        after it (the answer never recorded)."""
        pending = self.sent if (after_send and self.sent) or not self.prepared else self.prepared
        pending.pop(pick % len(pending))

    @rule()
    def refund_pass(self):
        """The payment run's refunds of shipments skipped or cancelled after payment."""
        occurrences_refund_due(actor=self.job)

    @rule(ahead=st.integers(min_value=-3, max_value=django_settings.BATCH_MAX_DAYS_AHEAD))
    def child_order_run(self, ahead):
        run_date = business_date() + datetime.timedelta(days=ahead)
        groups = list(occurrences_due_for_child_orders_grouped(run_date=run_date))
        if groups:
            child_orders_create(groups=groups, run_date=run_date, actor=self.job)

    # --- Reconcile -----------------------------------------------------------------------

    @precondition(lambda self: Payment.objects.filter(status__in=UNANSWERED_STATUSES).exists())
    @rule(payment=st.none() | st.integers(min_value=0))
    def reconcile_payments(self, payment):
        """reconcile_payments: every payment whose answer was never recorded, or one."""
        unanswered = list(
            Payment.objects.filter(status__in=UNANSWERED_STATUSES)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if payment is not None:
            unanswered = [_pick(unanswered, payment)]
        for payment_id in unanswered:
            self._refusable(payment_reconcile, payment_id=payment_id, actor=self.job)


def _settings(**overrides) -> settings:
    return settings(
        **{
            "max_examples": int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "25")),
            "stateful_step_count": int(os.environ.get("HYPOTHESIS_STEP_COUNT", "30")),
            "deadline": None,
            "derandomize": True,
            "database": None,
            "print_blob": False,
            "suppress_health_check": list(HealthCheck),
            **overrides,
        }
    )


def _report() -> None:
    print("\n".join(f"{count:6d}  {what}" for what, count in sorted(SEEN.items())), flush=True)


def test_money_state_machine(demo):
    SEEN.clear()
    run_state_machine_as_test(MoneyMachine, settings=_settings())
    _report()
