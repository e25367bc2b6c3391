import pytest
from django.db import connection

from tests.api.conftest import (  # noqa: F401
    agent_api,
    anonymous_api,
    empty_cache,
    order_api,
    supervisor_api,
    users,
)
from tests.batch.conftest import on_day, sell, today  # noqa: F401
from tests.core.test_webhooks import quiet_outbox, receiver  # noqa: F401
from tests.orders.conftest import carriers, child_order, released  # noqa: F401

# PostgreSQL sequences are not rolled back with a test's transaction: the documents these
# tests number would shift the numbers that later tests (tests/orders) expect to start
# from. Each test leaves the sequences as it found them.
SEQUENCES = ("invoice_number_seq", "sales_order_number_seq")


@pytest.fixture(autouse=True)
def sequences_restored(request):
    if "db" not in request.fixturenames and not any(
        mark.name == "django_db" for mark in request.node.iter_markers()
    ):
        yield
        return
    request.getfixturevalue("django_db_setup")
    with connection.cursor() as cursor:
        saved = []
        for name in SEQUENCES:
            cursor.execute(f"SELECT last_value, is_called FROM {name}")
            saved.append((name, *cursor.fetchone()))
    yield
    with connection.cursor() as cursor:
        for name, value, is_called in saved:
            cursor.execute("SELECT setval(%s, %s, %s)", [name, value, is_called])
