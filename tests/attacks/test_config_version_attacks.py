"""Attacks on the process-wide answers kept under the configuration's version
(core.config_version, core.read_once shared=True).

Each hole the review found is a test here, kept with the fix: a transaction's own change
made after its block read the version, or made in a savepoint; a database restored under
running processes; two administrators deadlocking on the version's row. The others pin
behaviour verified during the review.

Real PostgreSQL; other connections are real threads (tests.continuity.test_money_findings
in_thread). Seattle, WA is 10.25 % (tests.continuity.test_money_audit_parts.seattle).
"""

import datetime
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.config_version import config_version_read
from orders.delivery import DeliveryMode
from orders.models import Item
from orders.tax.models import TaxGroup, TaxGroupKind, TaxJurisdiction, TaxRate
from orders.tax.selectors import prices_include_tax, tax_tables_read_once
from orders.tax.services import RateRange, tax_rates_check
from tests.continuity.test_money_audit_parts import seattle
from tests.continuity.test_money_findings import in_thread
from tests.core.test_config_version import (
    fresh_block_rates,
    rates,
    reads_of,
    seattle_rates,
    version_committed,
)

D = Decimal
race = pytest.mark.django_db(transaction=True)


# --- 1. A block that read the version, then its own transaction changes the configuration --


@race
def test_an_own_change_made_after_the_block_read_the_version_is_kept_for_no_one(
    demo,
):
    """The block reads the committed version V at its first answer; then its own
    transaction writes a rate (the trigger makes V+1, uncommitted). The block's version
    stays V, and the next answer it misses is read from the transaction's own rows: it
    must not be kept under V (ReadOnce.get reads the version again before keeping an
    answer), or every other block reading V would be served a rate that never existed."""
    jurisdiction, groups, today = seattle_rates()
    with transaction.atomic():
        with tax_tables_read_once():
            prices_include_tax("USD")  # the block's first answer: it reads version V
            TaxRate.objects.update(rate=D("5.00"))  # own change: version V+1, uncommitted
            assert rates(jurisdiction, groups, today) == {D("5.00")}  # kept under V
        transaction.set_rollback(True)

    thread, outcome = in_thread(lambda: fresh_block_rates(jurisdiction, groups, today))
    thread.join()
    assert "error" not in outcome
    # Another connection, a new block, the committed version: the committed rate.
    assert outcome["value"] == {D("10.25")}


# --- 2. A transaction's own change made in a savepoint ----------------------------------


@race
def test_an_own_change_in_a_savepoint_is_seen_as_own(demo):
    """A write in a savepoint (any nested transaction.atomic(): tax_rate_create inside
    the admin's atomic) is the transaction's own change: the trigger's mark is a setting
    local to the transaction, kept when the savepoint is released."""
    seattle()
    with transaction.atomic():
        with transaction.atomic():  # a savepoint
            TaxRate.objects.update(rate=D("5.00"))
        own = config_version_read()
        transaction.set_rollback(True)
    assert own is None


@race
def test_a_change_rolled_back_in_a_savepoint_leaves_the_process_keeping_answers(demo):
    """Had the block kept its answers under the uncommitted number U, the process's store
    would hold U, higher than the committed version once rolled back: every later answer
    refused, every block reading the tables again until the next change (performance,
    not money)."""
    jurisdiction, groups, today = seattle_rates()
    with transaction.atomic():
        with transaction.atomic():
            TaxRate.objects.update(rate=D("5.00"))
        with tax_tables_read_once():
            assert rates(jurisdiction, groups, today) == {D("5.00")}
        transaction.set_rollback(True)
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    with tax_tables_read_once(), CaptureQueriesContext(connection) as kept:
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    assert reads_of(kept, "orders_taxrate") == 0


# --- 3. Numbers reused: the database restored under running processes ------------------


@race
def test_a_restored_database_giving_old_numbers_again_is_told_apart_by_the_token(
    demo,
):
    """Uniqueness of the numbers holds on one database timeline only. A backup restored
    while the application processes keep running (pg_restore, a data-only restore with
    --disable-triggers, a replica promoted behind the primary) brings back an older
    version row and sequence; the next administrator edits hand out the same numbers
    again. Each with a new token: the process does not serve what it kept under the
    number for the other data (8.00 % in place of the restored 10.25 %)."""
    jurisdiction, groups, today = seattle_rates()
    backup = version_committed()  # the backup: 10.25 % at this version
    TaxRate.objects.update(rate=D("8.00"))
    changed = version_committed()
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("8.00")}  # kept under `changed`

    # The backup restored (rows, the version row, its sequence), no trigger firing.
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE orders_taxrate SET rate = 10.25")
        cursor.execute('UPDATE "core_config_version" SET version = %s', [backup])
        cursor.execute("SELECT setval('core_config_version_seq', %s)", [backup])
        cursor.execute("SET session_replication_role = DEFAULT")
    # An administrator's unrelated edits after the restore.
    while version_committed() < changed:
        DeliveryMode.objects.update(name_fr="Standard")
    assert version_committed() == changed

    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}


@race
def test_writes_with_triggers_off_bump_nothing_and_blocks_keep_the_old_answer(demo):
    """Pinned (limitation): a write made with session_replication_role = replica (or
    ALTER TABLE ... DISABLE TRIGGER) makes no new version; processes keep the old answer
    until the next real configuration change. No code in the repository does this today
    (grep: no DISABLE TRIGGER, session_replication_role; COPY fires the triggers)."""
    jurisdiction, groups, today = seattle_rates()
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    before = version_committed()
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE orders_taxrate SET rate = 8.00")
        cursor.execute("SET session_replication_role = DEFAULT")
    assert version_committed() == before
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}  # stale, as expected


# --- 4. A block pinned to its version, for keys it first asks after a change -----------


@race
def test_a_block_gets_the_answer_of_its_version_for_a_key_first_asked_after_a_change(demo):
    """Pinned (semantic change, within the stated claim). Before the change, a block read
    a key the first time it asked it: a rate committed earlier in the block applied to
    every key first asked after it. Now the block takes the process's answer of the
    version it read at its first answer: the committed 8.00 % is not seen by this block
    (it was in a tax_tables_read_once block alone, without the process store: it would
    be). Long blocks are where this shows: subscriptions_materialise (one block for a
    whole batch, many transactions, continuity/services.py:460)."""
    jurisdiction, groups, today = seattle_rates()
    thread, outcome = in_thread(lambda: fresh_block_rates(jurisdiction, groups, today))
    thread.join()
    assert outcome["value"] == {D("10.25")}  # another request kept Seattle's rates
    with tax_tables_read_once():
        prices_include_tax("USD")  # the block reads the version
        thread, outcome = in_thread(lambda: TaxRate.objects.update(rate=D("8.00")))
        thread.join()
        assert "error" not in outcome
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("8.00")}


# --- 5. Deadlock the statement trigger brings between two administrators --------------


@race
def test_adding_a_rate_while_another_admin_adds_an_item_of_the_group_does_not_deadlock(demo):
    """Admin A adds a rate of group G: tax_rates_check takes the version's row, then G's
    (FOR NO KEY UPDATE). Admin B meanwhile adds an item of group G: its INSERT's trigger
    waits for the version's row until A commits; its foreign key check (KEY SHARE on G)
    would not wait for A's lock on G either. With G locked FOR UPDATE and no version row
    taken first, each waited for the other and PostgreSQL aborted one."""

    def admin_adds_item(group):
        Item.objects.create(item_number="99001", name="Tea", unit_price=D("4.00"), tax_group=group)

    group = rate_added_while(admin_adds_item)
    assert Item.objects.get(item_number="99001").tax_group_id == group.pk


@race
def test_a_block_whose_transaction_changes_the_configuration_reads_its_own_change(demo):
    """Another request kept Seattle's rates under V. This transaction's block reads V,
    then the transaction changes the rate itself: what the block asks next is its own
    transaction's view (5.00), not the process's answer of V (10.25). A statement that
    may write a configuration table ends the block's sharing (core.read_once)."""
    jurisdiction, groups, today = seattle_rates()
    thread, outcome = in_thread(lambda: fresh_block_rates(jurisdiction, groups, today))
    thread.join()
    assert outcome["value"] == {D("10.25")}
    with transaction.atomic():
        with tax_tables_read_once():
            prices_include_tax("USD")  # the block reads V
            TaxRate.objects.update(rate=D("5.00"))
            assert config_version_read() is None  # its own change
            seen = rates(jurisdiction, groups, today)
        transaction.set_rollback(True)
    assert seen == {D("5.00")}
    thread, outcome = in_thread(lambda: fresh_block_rates(jurisdiction, groups, today))
    thread.join()
    assert outcome["value"] == {D("10.25")}


@race
def test_a_group_renamed_while_a_rate_of_it_is_added_does_not_deadlock(demo):
    """Admin A adds a rate of group G; admin B renames G meanwhile (TaxGroup.clean takes
    no lock for that, and the UPDATE's trigger takes the version's row, then G's). The
    rate check takes the version's row before G's, as every configuration writer does:
    B waits for A's commit, then renames."""

    def admin_renames_group(group):
        with transaction.atomic():
            renamed = TaxGroup.objects.get(pk=group.pk)
            renamed.name_en = "Standard goods"
            renamed.full_clean()
            renamed.save()

    group = rate_added_while(admin_renames_group)
    assert TaxGroup.objects.get(pk=group.pk).name_en == "Standard goods"


# --- helpers ---------------------------------------------------------------------------


def wait_for_a_lock_wait(seconds: float = 5.0) -> None:
    """Until another session of this database waits for a lock (or `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)


def rate_added_while(other_admin) -> TaxGroup:
    """Admin A adds a rate of Seattle's standard group G in Portland, and waits, holding
    its rate check's locks, until `other_admin(G)`, run meanwhile in another connection,
    waits for a lock; then saves the rate. Both must commit. Returns G."""
    seattle()
    group = TaxGroup.objects.get(kind=TaxGroupKind.STANDARD, is_default=True)
    portland = TaxJurisdiction.objects.create(
        country="US", region="OR", postal_prefix="972", name="Portland, OR"
    )
    a_locked = threading.Event()
    since = datetime.date(2000, 1, 1)

    def admin_adds_rate():
        with transaction.atomic():
            tax_rates_check(
                jurisdiction_id=portland.pk, ranges=[RateRange(group.pk, since, None, None)]
            )
            a_locked.set()
            wait_for_a_lock_wait()
            TaxRate.objects.create(
                jurisdiction=portland, group=group, rate=D("0.00"), effective_from=since
            )

    def other():
        a_locked.wait(10)
        other_admin(group)

    one, rate_outcome = in_thread(admin_adds_rate)
    two, other_outcome = in_thread(other)
    one.join(20)
    two.join(20)
    assert "error" not in rate_outcome, rate_outcome.get("error")
    assert "error" not in other_outcome, other_outcome.get("error")
    assert TaxRate.objects.filter(jurisdiction=portland, group=group).count() == 1
    return group
