"""What the application needs from a payment gateway, and nothing more.

Amounts cross this boundary as Decimal in the order currency; each gateway converts to
the minor units its API wants (see minor_units). Card numbers and security codes only
ever travel inward, to tokenize(); everything after that uses the token.
"""

from __future__ import annotations

import abc
import datetime
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from core.money import CURRENCY_EXPONENTS


def minor_units(amount: Decimal, currency: str) -> int:
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), 2)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows.")
    return int(scaled)


def from_minor_units(amount_minor: int, currency: str) -> Decimal:
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), 2)
    return Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


class GatewayError(Exception):
    """The gateway refused the request itself (not a decline of the card)."""


class GatewayTimeout(GatewayError):
    """No answer in time: the charge may or may not have been made. Look it up."""


class CardRejected(GatewayError):
    """Tokenization refused the card details."""


class DeclineCode(enum.StrEnum):
    DO_NOT_HONOR = "do_not_honor"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    PROCESSING_ERROR = "processing_error"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    EXPIRED_CARD = "expired_card"

    GATEWAY_ERROR = "gateway_error"

    @property
    def is_hard(self) -> bool:
        """A hard decline will not succeed on retry: the card must change."""
        return self in {
            DeclineCode.LOST_CARD,
            DeclineCode.STOLEN_CARD,
            DeclineCode.EXPIRED_CARD,
            DeclineCode.GATEWAY_ERROR,
        }

    @property
    def reason(self) -> str:
        """What an agent is told, in the active language."""
        return str(DECLINE_REASONS[self])


DECLINE_REASONS = {
    DeclineCode.DO_NOT_HONOR: _(
        "The bank declined the charge. Try again later or use another card."
    ),
    DeclineCode.INSUFFICIENT_FUNDS: _("Insufficient funds on the card."),
    DeclineCode.PROCESSING_ERROR: _("The bank could not process the charge. Try again."),
    DeclineCode.LOST_CARD: _("The card is reported lost. Ask for another card."),
    DeclineCode.STOLEN_CARD: _("The card is reported stolen. Ask for another card."),
    DeclineCode.EXPIRED_CARD: _("The card has expired. Ask for another card."),
    DeclineCode.GATEWAY_ERROR: _("The payment service refused the request. Use another card."),
}


@dataclass(frozen=True)
class CardDetails:
    number: str = field(repr=False)
    expiry_month: int
    expiry_year: int
    security_code: str = field(repr=False)
    name_on_card: str


@dataclass(frozen=True)
class TokenizedCard:
    token: str
    brand: str
    last4: str
    expiry_month: int
    expiry_year: int


@dataclass(frozen=True)
class GatewayResult:
    approved: bool
    reference: str
    decline_code: DeclineCode | None = None
    message: str = ""

    @property
    def is_hard_decline(self) -> bool:
        return self.decline_code is not None and self.decline_code.is_hard


@dataclass(frozen=True)
class LedgerEntry:
    """One request the gateway processed, as its own records (a settlement report) tell:
    what the money audit compares with our Payment rows, key by key."""

    idempotency_key: str
    operation: str  # sale, refund or void
    amount: Decimal
    currency: str
    approved: bool
    reference: str
    at: datetime.datetime


class LedgerUnavailable(GatewayError):
    """The gateway offers no ledger to compare with (the money audit skips that part)."""


class PaymentGateway(abc.ABC):
    @abc.abstractmethod
    def tokenize(self, card: CardDetails) -> TokenizedCard: ...

    @abc.abstractmethod
    def sale(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        """Charge the card. Calling again with the same key returns the first answer."""

    @abc.abstractmethod
    def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    @abc.abstractmethod
    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult: ...

    @abc.abstractmethod
    def lookup(self, idempotency_key: str) -> GatewayResult | None:
        """The answer given to this key, or None if the gateway never processed it."""

    @abc.abstractmethod
    def ping(self) -> None:
        """The cheapest call that proves the gateway answers (its health or echo endpoint);
        raises GatewayError when it does not. Read by /health/, never charges."""

    def ledger(
        self, *, since: datetime.datetime | None = None, keys: Iterable[str] | None = None
    ) -> Iterator[LedgerEntry]:
        """What the gateway processed: every request since `since` (all, when None), or
        the requests of `keys`. Read by the money audit; a real adapter reads its
        gateway's settlement reports. Without one, the audit checks our books alone."""
        raise LedgerUnavailable("This payment gateway offers no ledger.")
