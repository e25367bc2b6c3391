"""A gateway that behaves like a real one, deterministically, for demos and tests.

It answers from its own ledger (models.py, reached through its own database connection),
honours idempotency keys like a real gateway, and sleeps PAYMENT_GATEWAY_LATENCY_MS on
every call so that throughput can be measured with realistic network waits.

The two timeout cards time out on refunds and voids of their sales too (the first request
under each key), so that an unknown reversal can be tested like an unknown sale.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Sum
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core import cardnumbers
from core.dates import business_date
from payments.gateways.base import (
    CardDetails,
    CardRejected,
    DeclineCode,
    GatewayError,
    GatewayResult,
    GatewayTimeout,
    LedgerEntry,
    PaymentGateway,
    TokenizedCard,
    from_minor_units,
    minor_units,
)
from payments.gateways.simulator.models import DroppedRequest, SimulatedCard, SimulatedTransaction
from payments.gateways.simulator.test_cards import (
    DECLINES_BEFORE_APPROVAL,
    Behaviour,
    behaviour_of,
)

LEDGER = "gateway"

_DECLINES = {
    Behaviour.SOFT_DECLINE: DeclineCode.DO_NOT_HONOR,
    Behaviour.INSUFFICIENT_FUNDS: DeclineCode.INSUFFICIENT_FUNDS,
    Behaviour.LOST_CARD: DeclineCode.LOST_CARD,
    Behaviour.STOLEN_CARD: DeclineCode.STOLEN_CARD,
    Behaviour.EXPIRED_CARD: DeclineCode.EXPIRED_CARD,
    Behaviour.PROCESSING_ERROR: DeclineCode.PROCESSING_ERROR,
}

_MESSAGES = {
    DeclineCode.DO_NOT_HONOR: "Do not honor",
    DeclineCode.INSUFFICIENT_FUNDS: "Insufficient funds",
    DeclineCode.PROCESSING_ERROR: "Processing error",
    DeclineCode.LOST_CARD: "Lost card, pick up",
    DeclineCode.STOLEN_CARD: "Stolen card, pick up",
    DeclineCode.EXPIRED_CARD: "Expired card",
}


def _new_reference() -> str:
    return "sim_" + secrets.token_hex(10)


# A ledger transaction as the simulator reads it back: what a replay compares with the
# request under the same key, and what its answer says.
_TRANSACTION_COLUMNS = (
    "operation",
    "token",
    "original_reference",
    "amount_minor",
    "currency",
    "approved",
    "decline_code",
    "reference",
)
_TRANSACTIONS = SimulatedTransaction._meta.db_table
_CARDS = SimulatedCard._meta.db_table
# A sale's first question, in one round trip: the transaction already under its key (a
# replay), and the card it names. Plain SQL on the ledger's cursor rather than the ORM:
# the simulator stands for a gateway, whose work costs our processes nothing, and its
# three ORM statements a sale were half of a payment worker's CPU a charge.
_SALE_READ_SQL = f"""
SELECT {", ".join(f"t.{column}" for column in _TRANSACTION_COLUMNS)},
       c.behaviour, c.expiry_month, c.expiry_year
FROM (SELECT 1 AS asked) AS request
LEFT JOIN {_TRANSACTIONS} AS t ON t.idempotency_key = %s
LEFT JOIN {_CARDS} AS c ON c.token = %s
"""
_TRANSACTION_READ_SQL = f"""
SELECT {", ".join(_TRANSACTION_COLUMNS)} FROM {_TRANSACTIONS} WHERE idempotency_key = %s
"""
# The same key written meanwhile by another process makes ON CONFLICT ... DO NOTHING
# return no row: the caller reads that process's transaction and answers as a replay.
_TRANSACTION_INSERT_SQL = f"""
INSERT INTO {_TRANSACTIONS}
    (idempotency_key, {", ".join(_TRANSACTION_COLUMNS)}, created_at)
VALUES (%s, {", ".join(["%s"] * len(_TRANSACTION_COLUMNS))}, %s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING {", ".join(_TRANSACTION_COLUMNS)}
"""


def _charged_minor_units(amount: Decimal, currency: str) -> int:
    """The amount of a sale or refund in minor units, refused unless more than zero, as
    a real gateway refuses it: a refund of less than nothing would give back more than
    its sale (-5.00, then 15.00 of a 10.00 sale)."""
    amount_minor = minor_units(amount, currency)
    if amount_minor <= 0:
        raise GatewayError("The amount must be more than zero.")
    return amount_minor


def _transaction(row) -> dict | None:
    """A ledger row of _TRANSACTION_COLUMNS as a dict (None for no row, or for the empty
    side of _SALE_READ_SQL's join)."""
    if row is None or row[0] is None:
        return None
    transaction_row = dict(zip(_TRANSACTION_COLUMNS, row, strict=True))
    # SQLite answers 0 or 1.
    transaction_row["approved"] = bool(transaction_row["approved"])
    return transaction_row


def _result(transaction_row: dict) -> GatewayResult:
    code = DeclineCode(transaction_row["decline_code"]) if transaction_row["decline_code"] else None
    return GatewayResult(
        approved=transaction_row["approved"],
        reference=transaction_row["reference"],
        decline_code=code,
        message="Approved" if transaction_row["approved"] else _MESSAGES[code],
    )


@cache
def _ledger_pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="simulator-ledger")


def _on_ledger_thread(method, gateway, args, kwargs):
    try:
        return method(gateway, *args, **kwargs)
    finally:
        # Outside a request, Django does not recycle connections by itself.
        connections[LEDGER].close_if_unusable_or_obsolete()


def _after_network_wait_on_ledger(method):
    """The call's network wait in the caller's thread, then its ledger work in one of
    PAYMENT_SIMULATOR_LEDGER_THREADS threads of the process (0: in the caller's thread).
    A payment job's pool of 32 gateway threads then holds a few connections to the
    ledger's database instead of one each: the simulator stands for a gateway, whose
    calls cost our database nothing, and several workers would otherwise exhaust
    PostgreSQL's connections with the simulator's alone."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        self._network_wait()
        threads = settings.PAYMENT_SIMULATOR_LEDGER_THREADS
        if threads <= 0:
            return method(self, *args, **kwargs)
        return _ledger_pool(threads).submit(_on_ledger_thread, method, self, args, kwargs).result()

    return call


class SimulatorGateway(PaymentGateway):
    def _network_wait(self) -> None:
        if settings.PAYMENT_GATEWAY_LATENCY_MS:
            time.sleep(settings.PAYMENT_GATEWAY_LATENCY_MS / 1000)

    @sensitive_variables("card")
    def tokenize(self, card: CardDetails) -> TokenizedCard:
        self._network_wait()
        number = cardnumbers.normalize(card.number)
        if not (13 <= len(number) <= 19 and cardnumbers.luhn_valid(number)):
            raise CardRejected("The card number is not valid.")
        brand = cardnumbers.detect_brand(number)
        if brand is None:
            raise CardRejected("This card brand is not accepted.")
        stored = SimulatedCard.objects.using(LEDGER).create(
            token="tok_sim_" + secrets.token_hex(12),
            behaviour=behaviour_of(number),
            brand=brand,
            last4=number[-4:],
            expiry_month=card.expiry_month,
            expiry_year=card.expiry_year,
        )
        return TokenizedCard(
            token=stored.token,
            brand=stored.brand,
            last4=stored.last4,
            expiry_month=stored.expiry_month,
            expiry_year=stored.expiry_year,
        )

    @_after_network_wait_on_ledger
    def sale(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        amount_minor = _charged_minor_units(amount, currency)
        request = {
            "operation": "sale",
            "token": token,
            "amount_minor": amount_minor,
            "currency": currency,
        }
        with connections[LEDGER].cursor() as cursor:
            cursor.execute(_SALE_READ_SQL, [idempotency_key, token])
            row = cursor.fetchone()
        earlier = _transaction(row[: len(_TRANSACTION_COLUMNS)])
        if earlier is not None:
            return self._replay(idempotency_key, request, earlier)
        card_behaviour, expiry_month, expiry_year = row[len(_TRANSACTION_COLUMNS) :]
        if card_behaviour is None:
            raise GatewayError("Unknown card token.")
        behaviour = Behaviour(card_behaviour)
        self._drop_first_request(behaviour, idempotency_key)
        decline = _DECLINES.get(behaviour)
        if behaviour == Behaviour.APPROVE_AFTER_DECLINES:
            declined_so_far = (
                SimulatedTransaction.objects.using(LEDGER)
                .filter(token=token, operation="sale", approved=False)
                .count()
            )
            if declined_so_far < DECLINES_BEFORE_APPROVAL:
                decline = DeclineCode.DO_NOT_HONOR
        if decline is None and self._expired(expiry_month, expiry_year):
            decline = DeclineCode.EXPIRED_CARD
        row, created = self._record(
            idempotency_key,
            request,
            approved=decline is None,
            decline_code=decline.value if decline else "",
        )
        self._lose_answer(behaviour, created)
        return _result(row)

    @_after_network_wait_on_ledger
    def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        amount_minor = _charged_minor_units(amount, currency)
        request = {
            "operation": "refund",
            "original_reference": reference,
            "amount_minor": amount_minor,
            "currency": currency,
        }
        replay = self._replay(idempotency_key, request, self._read(idempotency_key))
        if replay is not None:
            return replay
        behaviour = self._behaviour(self._approved_sale(reference).token)
        self._drop_first_request(behaviour, idempotency_key)
        with transaction.atomic(using=LEDGER):
            # Reversals of one sale are decided one at a time, as a real gateway would:
            # the amount left is only right once the reversal before it is recorded, and
            # the same key that raced in meanwhile is answered, not refused.
            sale = self._approved_sale(reference, lock=True)
            replay = self._replay(idempotency_key, request, self._read(idempotency_key))
            if replay is not None:
                return replay
            if sale.currency != currency:
                raise GatewayError("The refund currency differs from the sale's.")
            reversed_minor = self._reversed_minor(reference)
            if reversed_minor + amount_minor > sale.amount_minor:
                raise GatewayError("The refund exceeds what is left of the sale.")
            row, created = self._record(
                idempotency_key, request, approved=True, decline_code="", token=sale.token
            )
        self._lose_answer(behaviour, created)
        return _result(row)

    @_after_network_wait_on_ledger
    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        sale = self._approved_sale(reference)
        request = {
            "operation": "void",
            "original_reference": reference,
            "amount_minor": sale.amount_minor,
            "currency": sale.currency,
        }
        replay = self._replay(idempotency_key, request, self._read(idempotency_key))
        if replay is not None:
            return replay
        behaviour = self._behaviour(sale.token)
        self._drop_first_request(behaviour, idempotency_key)
        with transaction.atomic(using=LEDGER):
            self._approved_sale(reference, lock=True)
            replay = self._replay(idempotency_key, request, self._read(idempotency_key))
            if replay is not None:
                return replay
            if self._reversed_minor(reference):
                raise GatewayError("A sale that was refunded or voided cannot be voided.")
            row, created = self._record(
                idempotency_key, request, approved=True, decline_code="", token=sale.token
            )
        self._lose_answer(behaviour, created)
        return _result(row)

    @_after_network_wait_on_ledger
    def lookup(self, idempotency_key: str) -> GatewayResult | None:
        row = self._read(idempotency_key)
        return _result(row) if row else None

    def ping(self) -> None:
        # The simulator's "servers" are its ledger's database: it answers when that does.
        self._network_wait()
        try:
            with connections[LEDGER].cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as error:
            raise GatewayTimeout("The simulated gateway does not answer.") from error

    def ledger(self, *, since=None, keys=None):
        # No network wait: a settlement report is one download, not one call per entry.
        rows = SimulatedTransaction.objects.using(LEDGER).order_by("id")
        if keys is not None:
            keys = list(keys)
            for start in range(0, len(keys), 5000):
                yield from self._entries(
                    rows.filter(idempotency_key__in=keys[start : start + 5000])
                )
            return
        if since is not None:
            rows = rows.filter(created_at__gte=since)
        yield from self._entries(rows)

    @staticmethod
    def _entries(rows):
        for key, operation, amount_minor, currency, approved, reference, at in rows.values_list(
            "idempotency_key",
            "operation",
            "amount_minor",
            "currency",
            "approved",
            "reference",
            "created_at",
        ).iterator(chunk_size=5000):
            yield LedgerEntry(
                idempotency_key=key,
                operation=operation,
                amount=from_minor_units(amount_minor, currency),
                currency=currency,
                approved=approved,
                reference=reference,
                at=at,
            )

    # --- ledger -------------------------------------------------------------------------

    def _read(self, idempotency_key: str) -> dict | None:
        with connections[LEDGER].cursor() as cursor:
            cursor.execute(_TRANSACTION_READ_SQL, [idempotency_key])
            return _transaction(cursor.fetchone())

    def _replay(
        self, idempotency_key: str, request: dict, earlier: dict | None
    ) -> GatewayResult | None:
        """The answer already given under this key (`earlier`, the ledger's row), if the
        request is the same; a different request under a used key is refused."""
        if earlier is None:
            return None
        for field, value in request.items():
            if earlier[field] != value:
                raise GatewayError(
                    f"Idempotency key {idempotency_key} was used for a different request."
                )
        return _result(earlier)

    def _record(
        self,
        idempotency_key: str,
        request: dict,
        *,
        approved: bool,
        decline_code: str,
        token: str | None = None,
    ) -> tuple[dict, bool]:
        """Write the transaction under its key: (its row, True), or (the row another
        process wrote under the same key meanwhile, False)."""
        fields = {
            "token": "",
            "original_reference": "",
            **request,
            "approved": approved,
            "decline_code": decline_code,
            "reference": _new_reference(),
        }
        if token is not None:
            fields["token"] = token
        values = [fields[column] for column in _TRANSACTION_COLUMNS]
        ledger = connections[LEDGER]
        created_at = ledger.ops.adapt_datetimefield_value(timezone.now())
        # Inside a caller's transaction (a refund's lock on its sale), a refused INSERT (a
        # value too long for its column) must not leave that transaction aborted: a
        # savepoint, as the ORM's create had. On its own the INSERT is its own transaction.
        savepoint = (
            transaction.atomic(using=LEDGER) if ledger.in_atomic_block else contextlib.nullcontext()
        )
        with savepoint, ledger.cursor() as cursor:
            cursor.execute(_TRANSACTION_INSERT_SQL, [idempotency_key, *values, created_at])
            row = cursor.fetchone()
        if row is not None:
            return _transaction(row), True
        # Another process wrote this key between our read and our write: answered as a
        # replay, so a different request that raced in under the same key is refused.
        earlier = self._read(idempotency_key)
        self._replay(idempotency_key, request, earlier)
        return earlier, False

    def _approved_sale(self, reference: str, *, lock: bool = False) -> SimulatedTransaction:
        sales = SimulatedTransaction.objects.using(LEDGER).filter(
            reference=reference, operation="sale", approved=True
        )
        sale = (sales.select_for_update() if lock else sales).first()
        if sale is None:
            raise GatewayError(f"No approved sale with reference {reference}.")
        return sale

    def _reversed_minor(self, reference: str) -> int:
        total = (
            SimulatedTransaction.objects.using(LEDGER)
            .filter(original_reference=reference, approved=True)
            .aggregate(total=Sum("amount_minor"))["total"]
        )
        return total or 0

    def _behaviour(self, token: str) -> Behaviour:
        card = SimulatedCard.objects.using(LEDGER).filter(token=token).first()
        return Behaviour(card.behaviour) if card else Behaviour.APPROVE

    def _drop_first_request(self, behaviour: Behaviour, idempotency_key: str) -> None:
        """The timeout-before-charge card's first request under a key is lost on the way
        in: nothing is processed, and the same key sent again goes through."""
        if behaviour != Behaviour.TIMEOUT_BEFORE_CHARGE:
            return
        _dropped, first_time = DroppedRequest.objects.using(LEDGER).get_or_create(
            idempotency_key=idempotency_key
        )
        if first_time:
            raise GatewayTimeout("No answer from the gateway (nothing was processed).")

    def _lose_answer(self, behaviour: Behaviour, created: bool) -> None:
        """The timeout-after-charge card's answer to a request it processed is lost on the
        way back, the first time only: a look-up or the same key again answers."""
        if created and behaviour == Behaviour.TIMEOUT_AFTER_CHARGE:
            raise GatewayTimeout("No answer from the gateway (the request was processed).")

    def _expired(self, expiry_month: int, expiry_year: int) -> bool:
        today = business_date()
        return (expiry_year, expiry_month) < (today.year, today.month)
