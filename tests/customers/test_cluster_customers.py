"""`cluster_customers`: the customers table rewritten in name order (docs/operations.md)."""

import io
import re

import psycopg2
import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection

from customers.management.commands.cluster_customers import is_clustered
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="CLUSTER is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),  # VACUUM cannot run in a transaction
]


@pytest.fixture(autouse=True)
def not_clustered():
    """The mark CLUSTER leaves on the table is schema, which no test's flush removes."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE customers_customer SET WITHOUT CLUSTER")


def cluster(*args):
    out = io.StringIO()
    call_command("cluster_customers", *args, stdout=out)
    return out.getvalue()


def physical_order():
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_name FROM customers_customer ORDER BY ctid")
        return [name for (name,) in cursor.fetchall()]


def test_it_rewrites_the_table_in_name_order_and_says_so():
    for name in ["Young", "Adams", "Moore", "Baker", "Smith", "Clark"]:
        CustomerFactory(last_name=name)
    assert "not clustered" in cluster("--check")

    said = cluster()

    assert physical_order() == sorted(physical_order())
    assert is_clustered()
    assert re.match(r"Clustered \d+ customers on customer_search_order_idx in ", said)
    assert "correlation of last_name now 1.000." in said
    assert cluster("--check").startswith("customers_customer: clustered on ")


def test_a_table_in_use_past_the_lock_timeout_is_left_as_it_is_with_exit_1():
    CustomerFactory()
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"],
    )
    try:
        with other.cursor() as cursor:  # a transaction that has read the table, still open
            cursor.execute("SELECT count(*) FROM customers_customer")
        with pytest.raises(CommandError) as refused:
            cluster("--lock-timeout", "1")
    finally:
        other.close()

    assert refused.value.returncode == 1
    assert str(refused.value).startswith("The customers table stayed in use for 1 s: nothing done.")
    assert not is_clustered()


@pytest.mark.parametrize("seconds", ["0", "-3", "ten"])
def test_a_bad_lock_timeout_is_refused_with_exit_2_and_one_line(seconds, capsys):
    with pytest.raises(SystemExit) as refused:
        ManagementUtility(["manage.py", "cluster_customers", "--lock-timeout", seconds]).execute()

    assert refused.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "cluster_customers: argument --lock-timeout: must be a whole number of seconds, "
        f"1 or more: {seconds!r}\n"
    )
    assert not is_clustered()
