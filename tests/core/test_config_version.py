"""The configuration's version (core.config_version) and the answers a process keeps
under it (core.read_once, shared): every table the kept answers come from has the
trigger; every write to one is a new, never repeated, growing number, seen when the
write is; an answer kept under a version is used by later blocks of that version only;
a transaction's own configuration change is never kept for others. Real PostgreSQL, with
a second connection where another writer is needed."""

import re
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from continuity.planning import program_get_for_quote, programs_read_once
from core.actors import Actor
from core.config_version import CONFIG_TABLES, config_version_read, config_version_tables
from core.dates import business_date
from core.read_once import ReadOnce
from orders.delivery import DeliveryMode
from orders.models import Item
from orders.services import sales_order_submit
from orders.tax.models import TaxRate
from orders.tax.selectors import tax_rates_on, tax_tables_read_once
from tests.continuity.test_money_audit_parts import seattle
from tests.continuity.test_money_findings import in_thread
from tests.payments.support import APPROVE, order_ready

ACTOR = Actor.job("test")
D = Decimal

# The tables the code watches for writes (a block's own change) must be the ones with
# the trigger: the first test holds them to it.
CONFIGURATION_TABLES = sorted(CONFIG_TABLES)

race = pytest.mark.django_db(transaction=True)


def version_committed() -> int:
    """The version's number as a fresh connection sees it (committed only)."""
    thread, outcome = in_thread(config_version_read)
    thread.join()
    return outcome["value"][0]


@pytest.mark.django_db
def test_each_configuration_table_and_no_other_has_the_trigger():
    assert config_version_tables() == CONFIGURATION_TABLES


@pytest.mark.django_db
@pytest.mark.parametrize("table", CONFIGURATION_TABLES)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET id = id WHERE false",
        "DELETE FROM {table} WHERE false",
        "INSERT INTO {table} SELECT * FROM {table} WHERE false",
    ],
)
def test_any_write_statement_is_a_new_version_even_of_no_row(table, statement):
    before, _token = config_version_read()
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=table))
    # This transaction's own change: not one to keep for others.
    assert config_version_read() is None
    with connection.cursor() as cursor:
        cursor.execute('SELECT version FROM "core_config_version"')
        (after,) = cursor.fetchone()
    assert after > before


@race
def test_a_truncate_is_a_new_version_and_an_emptied_version_table_comes_back(demo):
    before = version_committed()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE core_config_version")
        cursor.execute("TRUNCATE orders_pricetaxbasis")
    assert version_committed() > before


@race
def test_a_rolled_back_change_never_lends_its_number_to_a_committed_one(demo):
    with transaction.atomic():
        DeliveryMode.objects.update(name_en="Renamed")
        with connection.cursor() as cursor:
            cursor.execute('SELECT version FROM "core_config_version"')
            (uncommitted,) = cursor.fetchone()
        transaction.set_rollback(True)
    assert version_committed() < uncommitted
    DeliveryMode.objects.update(name_fr="Renommé")
    assert version_committed() > uncommitted


@race
def test_numbers_grow_in_commit_order_when_two_administrators_write_at_once(demo):
    """The second writer waits for the first's commit from its first configuration
    statement, and takes its number after it."""
    first_wrote, first_may_commit = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            Item.objects.filter(item_number="88000").update(name="Wellness box")
            first_wrote.set()
            first_may_commit.wait(10)
            with connection.cursor() as cursor:
                cursor.execute('SELECT version FROM "core_config_version"')
                return cursor.fetchone()[0]

    def second():
        first_wrote.wait(10)
        with transaction.atomic():
            TaxRate.objects.update(rate=D("8.00"))
        return version_committed_here()

    def version_committed_here():
        with connection.cursor() as cursor:
            cursor.execute('SELECT version FROM "core_config_version"')
            return cursor.fetchone()[0]

    one, first_outcome = in_thread(first)
    two, second_outcome = in_thread(second)
    first_wrote.wait(10)
    two.join(0.5)
    assert two.is_alive()  # waiting for the first writer's commit
    first_may_commit.set()
    one.join(10)
    two.join(10)
    assert "error" not in first_outcome and "error" not in second_outcome
    assert second_outcome["value"] > first_outcome["value"]
    assert version_committed() == second_outcome["value"]


@race
def test_a_block_after_another_connections_rate_change_reads_the_new_rate(demo):
    jurisdiction, groups, today = seattle_rates()
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    with tax_tables_read_once(), CaptureQueriesContext(connection) as kept:
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    assert reads_of(kept, "orders_taxrate") == 0  # the process's answer, same version

    thread, outcome = in_thread(lambda: TaxRate.objects.update(rate=D("8.00")))
    thread.join()
    assert "error" not in outcome

    with tax_tables_read_once(), CaptureQueriesContext(connection) as fresh:
        assert rates(jurisdiction, groups, today) == {D("8.00")}
    assert reads_of(fresh, "orders_taxrate") == 1


@race
def test_a_block_already_running_keeps_what_it_read_and_keeps_nothing_older_for_others(demo):
    jurisdiction, groups, today = seattle_rates()
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}
        thread, outcome = in_thread(lambda: TaxRate.objects.update(rate=D("8.00")))
        thread.join()
        assert "error" not in outcome
        assert rates(jurisdiction, groups, today) == {D("10.25")}
        # A new block elsewhere (this thread's block keeps its own answers).
        thread, other = in_thread(lambda: fresh_block_rates(jurisdiction, groups, today))
        thread.join()
        assert other["value"] == {D("8.00")}
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("8.00")}


@race
def test_a_transactions_own_change_is_priced_by_it_and_kept_for_no_one(demo):
    jurisdiction, groups, today = seattle_rates()
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    with transaction.atomic():
        TaxRate.objects.update(rate=D("5.00"))
        with tax_tables_read_once():
            assert rates(jurisdiction, groups, today) == {D("5.00")}
        transaction.set_rollback(True)
    with tax_tables_read_once():
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    thread, outcome = in_thread(lambda: fresh_block_rates(jurisdiction, groups, today))
    thread.join()
    assert outcome["value"] == {D("10.25")}
    # The process keeps the committed rates again (its number from the rolled-back change
    # was never kept, or every block would read the tables until a newer change).
    with tax_tables_read_once(), CaptureQueriesContext(connection) as kept:
        assert rates(jurisdiction, groups, today) == {D("10.25")}
    assert reads_of(kept, "orders_taxrate") == 0


@race
def test_a_program_edit_reaches_the_next_block(demo):
    from continuity.models import ProgramEventLine

    item = Item.objects.get(item_number="88000")
    program_id = item.continuity_program_id
    with programs_read_once():
        before = first_line_price(program_get_for_quote(program_id=program_id))
    ProgramEventLine.objects.filter(event__program_id=program_id).update(unit_price=D("1.00"))
    with programs_read_once():
        after = first_line_price(program_get_for_quote(program_id=program_id))
    assert before != D("1.00") and after == D("1.00")


@race
def test_every_table_a_kept_answer_comes_from_has_the_trigger(demo, monkeypatch):
    """What the shared blocks read through a whole sale (complete, submit: the tax
    tables, the program, the default delivery mode), table by table."""
    read_tables: set[str] = set()
    original_get = ReadOnce.get

    def recording_get(self, key, read):
        def read_recorded():
            with CaptureQueriesContext(connection) as captured:
                value = read()
            for query in captured.captured_queries:
                read_tables.update(re.findall(r'(?:FROM|JOIN) "(\w+)"', query["sql"]))
            return value

        return original_get(self, key, read_recorded)

    monkeypatch.setattr(ReadOnce, "get", recording_get)
    seattle()
    order = order_ready(ACTOR, APPROVE)
    sales_order_submit(order_id=order.pk, actor=ACTOR)

    assert {"orders_taxrate", "continuity_programevent", "orders_deliverymode"} <= read_tables
    assert read_tables <= set(CONFIGURATION_TABLES)


@pytest.mark.django_db
def test_no_version_outside_postgresql_blocks_keep_their_own_answers_only(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert config_version_read() is None
    reads = []
    kept = ReadOnce("test_answers", shared=True)
    for _ in range(2):
        with kept.block():
            assert kept.get("key", lambda: reads.append(1) or "answer") == "answer"
    assert reads == [1, 1]


# --- helpers ---------------------------------------------------------------------------


def seattle_rates():
    from orders.tax.models import TaxJurisdiction

    seattle()
    jurisdiction = TaxJurisdiction.objects.get(country="US", region="WA", postal_prefix="981")
    groups = set(TaxRate.objects.filter(jurisdiction=jurisdiction).values_list("group", flat=True))
    return jurisdiction, groups, business_date()


def rates(jurisdiction, groups, day) -> set[Decimal]:
    found = tax_rates_on(jurisdiction_id=jurisdiction.pk, group_ids=groups, day=day)
    return {rate.rate for rate in found.values()}


def fresh_block_rates(jurisdiction, groups, day) -> set[Decimal]:
    with tax_tables_read_once():
        return rates(jurisdiction, groups, day)


def first_line_price(program) -> Decimal:
    return program.events.all()[0].lines.all()[0].unit_price


def reads_of(context, table: str) -> int:
    return sum(1 for query in context.captured_queries if f'FROM "{table}"' in query["sql"])
