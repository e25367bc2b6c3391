"""Many realistic customers for benchmarks, loaded with PostgreSQL COPY.

Used by the `generate_customers` command. A run fills one range of generated account
numbers (`B0000001`, `B0000002`, ...: a prefix the demo accounts `0040xx` cannot
collide with) in one transaction, so a range is either entirely there or not at all,
and a range that already holds a customer is refused rather than filled twice.
"""

from __future__ import annotations

import itertools
import random
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.bulk import copy_rows
from customers.models import Address, AddressKind, Customer, Language
from devdata import people

ACCOUNT_PREFIX = "B"
# A fixed width keeps string order equal to number order, so a range of accounts is one
# BETWEEN on the unique index.
ACCOUNT_DIGITS = 7
MAX_COUNTER = 10**ACCOUNT_DIGITS - 1

CUSTOMER_COLUMNS = (
    "account_number",
    "first_name",
    "last_name",
    "email",
    "phone",
    "language",
    "currency",
    "blocked",
    "search_document",
    "created_at",
)
ADDRESS_COLUMNS = (
    "customer_id",
    "kind",
    "name",
    "street",
    "city",
    "state",
    "postal_code",
    "country",
    "is_default",
)


class GenerationRefused(Exception):
    """The range cannot be generated (it is not empty, or it overflows the account width)."""


@dataclass(frozen=True)
class AccountRange:
    """Counters `start` .. `start + count - 1`, as account numbers B0000001 ..."""

    start: int
    count: int

    def __post_init__(self):
        if self.start < 1 or self.count < 1:
            raise GenerationRefused("--start and --count must be at least 1.")
        if self.last_counter > MAX_COUNTER:
            raise GenerationRefused(
                f"--start {self.start} --count {self.count} goes past the last account "
                f"number {account_number(MAX_COUNTER)}."
            )

    @property
    def last_counter(self) -> int:
        return self.start + self.count - 1

    @property
    def first_account(self) -> str:
        return account_number(self.start)

    @property
    def last_account(self) -> str:
        return account_number(self.last_counter)

    def customers(self):
        return Customer.objects.filter(
            account_number__gte=self.first_account, account_number__lte=self.last_account
        )


def account_number(counter: int) -> str:
    return f"{ACCOUNT_PREFIX}{counter:0{ACCOUNT_DIGITS}d}"


@dataclass(frozen=True)
class GenerationResult:
    customers: int
    addresses: int
    seconds: float


def _ascii(value: str) -> str:
    """'Hélène' -> 'helene', for e-mail addresses."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return folded.lower().replace(" ", "")


def _zipf_cumulative_weights(size: int, offset: int) -> list[float]:
    """Rank r weighs 1 / (r + offset): a few very common names and a long tail."""
    return list(itertools.accumulate(1 / (rank + offset) for rank in range(size)))


class PersonMaker:
    """Deterministic rows: the same seed and range always give the same customers."""

    FIRST_NAME_WEIGHTS = _zipf_cumulative_weights(len(people.FIRST_NAMES), 30)
    LAST_NAME_WEIGHTS = _zipf_cumulative_weights(len(people.LAST_NAMES), 30)

    def __init__(self, *, seed: int, start: int):
        # Seeded by the seed and the range's first counter: a run can be repeated exactly
        # (on an empty range), and the next range does not replay this one's people.
        self.random = random.Random(f"{seed}:{start}")

    def last_name(self) -> str:
        # Shares close to a real population: the most common surname (Smith) about 0.7 %,
        # the listed surnames about half of everyone, then a long tail.
        draw = self.random.random()
        if draw < 0.55:
            return self.random.choices(people.LAST_NAMES, cum_weights=self.LAST_NAME_WEIGHTS)[0]
        if draw < 0.97:
            # The long tail: "Lindgren", "Ashworth", about 40 customers each per million.
            root = self.random.choice(people.SURNAME_ROOTS)
            return root + self.random.choice(people.SURNAME_ENDINGS)
        # Double-barrelled names: most are unique, the rare names of a benchmark.
        first, second = self.random.sample(people.LAST_NAMES, 2)
        return f"{first}-{second}"

    def email(self, first_name: str, last_name: str) -> str:
        draw = self.random.random()
        first, last = _ascii(first_name), _ascii(last_name)
        domain = self.random.choice(people.EMAIL_DOMAINS)
        if draw < 0.08:
            return ""
        if draw < 0.45:
            return f"{first}.{last}@{domain}"
        if draw < 0.65:
            return f"{first[:1]}{last}{self.random.randint(1, 99)}@{domain}"
        if draw < 0.85:
            return f"{first}_{last}{self.random.randint(1, 999)}@{domain}"
        return f"{last}.{first}@{domain}"

    def north_american_phone(self, area: str) -> str:
        if self.random.random() < 0.3:
            area = str(self.random.randint(201, 989))
        exchange = self.random.randint(200, 999)
        line = self.random.randint(0, 9999)
        style = self.random.random()
        if style < 0.05:
            return ""
        if style < 0.35:
            return f"+1 {area} {exchange} {line:04d}"
        if style < 0.6:
            return f"({area}) {exchange}-{line:04d}"
        if style < 0.8:
            return f"{area}-{exchange}-{line:04d}"
        if style < 0.9:
            return f"{area}.{exchange}.{line:04d}"
        return f"{area}{exchange}{line:04d}"

    def french_phone(self, region: str) -> str:
        pairs = " ".join(f"{self.random.randint(0, 99):02d}" for _ in range(4))
        if self.random.random() < 0.5:
            return f"+33 {region} {pairs}"
        return f"0{region} {pairs}"

    def customer(self, counter: int) -> tuple[tuple, tuple]:
        """(customer columns, address columns without customer_id)."""
        french = self.random.random() < 0.2
        city, state, postal_prefix, country, phone_prefix = self.random.choice(
            people.FRENCH_CITIES if french else people.US_CITIES
        )
        first_name = self.random.choices(people.FIRST_NAMES, cum_weights=self.FIRST_NAME_WEIGHTS)[0]
        last_name = self.last_name()
        email = self.email(first_name, last_name)
        if country == "FR":
            phone = self.french_phone(phone_prefix.split()[1])
            street = f"{self.random.randint(1, 199)} {self.random.choice(people.FRENCH_STREETS)}"
            postal_code = f"{postal_prefix}{self.random.randint(1, 20):02d}"
        else:
            phone = self.north_american_phone(phone_prefix.split()[1])
            street = (
                f"{self.random.randint(1, 9999)} {self.random.choice(people.STREET_NAMES)} "
                f"{self.random.choice(people.STREET_KINDS)}"
            )
            if country == "CA":
                postal_code = (
                    f"{postal_prefix} {self.random.randint(1, 9)}"
                    f"{self.random.choice('ABCEGHJKLMNPRSTVXY')}{self.random.randint(1, 9)}"
                )
            else:
                postal_code = f"{postal_prefix}{self.random.randint(1, 99):02d}"
        language = Language.FRENCH if french and self.random.random() < 0.9 else Language.ENGLISH
        account = account_number(counter)
        search_document = Customer.build_search_document(
            account_number=account,
            first_name=first_name,
            last_name=last_name,
            email=email,
            phone=phone,
        )
        blocked = self.random.random() < 0.003
        customer = (
            account,
            first_name,
            last_name,
            email,
            phone,
            language,
            settings.CURRENCY,
            blocked,
            search_document,
        )
        address = (f"{first_name} {last_name}", street, city, state, postal_code, country)
        return customer, address


def _ids_by_account(first: str, last: str) -> dict[str, int]:
    return dict(
        Customer.objects.filter(account_number__gte=first, account_number__lte=last).values_list(
            "account_number", "id"
        )
    )


def customers_generate(
    *,
    account_range: AccountRange,
    batch_size: int,
    seed: int,
    with_addresses: bool = True,
    progress: Callable[[int], None] | None = None,
) -> GenerationResult:
    """Insert the customers of `account_range` (and one default shipping address each).

    One transaction: an interrupted run leaves nothing behind, and a second run on the same
    range is refused (the range check runs under an advisory lock, and the unique account
    number is the backstop). `batch_size` bounds the memory of one COPY buffer.
    """
    if connection.vendor != "postgresql":
        raise GenerationRefused(
            f"generate_customers needs PostgreSQL (it loads rows with COPY), "
            f"not {connection.vendor}."
        )
    started = time.perf_counter()
    maker = PersonMaker(seed=seed, start=account_range.start)
    customer_table = Customer._meta.db_table
    address_table = Address._meta.db_table
    created_at = timezone.now().isoformat()
    addresses = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('customers.generate'))")
        existing = account_range.customers().count()
        if existing:
            raise GenerationRefused(
                f"accounts {account_range.first_account}..{account_range.last_account} "
                f"already hold {existing} customers; nothing was generated "
                f"(choose another --start)."
            )
        for batch_start in range(account_range.start, account_range.last_counter + 1, batch_size):
            batch_stop = min(batch_start + batch_size, account_range.last_counter + 1)
            customer_rows = []
            address_rows = []
            for counter in range(batch_start, batch_stop):
                customer, address = maker.customer(counter)
                customer_rows.append((*customer, created_at))
                address_rows.append(address)
            copy_rows(Customer, CUSTOMER_COLUMNS, customer_rows)
            if with_addresses:
                ids = _ids_by_account(account_number(batch_start), account_number(batch_stop - 1))
                copy_rows(
                    Address,
                    ADDRESS_COLUMNS,
                    [
                        (ids[customer[0]], AddressKind.SHIPPING.value, *address, True)
                        for customer, address in zip(customer_rows, address_rows, strict=True)
                    ],
                )
                addresses += len(address_rows)
            if progress:
                progress(batch_stop - account_range.start)
    _refresh_statistics([customer_table, address_table] if with_addresses else [customer_table])
    return GenerationResult(
        customers=account_range.count,
        addresses=addresses,
        seconds=time.perf_counter() - started,
    )


def _refresh_statistics(tables: list[str]) -> None:
    """The planner chooses between the name-order index and the trigram index from these
    statistics, so they must describe the new rows before the first search.

    VACUUM also sets the visibility map (index-only scans) and flushes the trigram index's
    pending list; it cannot run inside a transaction (a test's), where ANALYZE does."""
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{verb} {table}")
