from tests.batch.conftest import on_day, sell, today  # noqa: F401
from tests.core.test_webhooks import quiet_outbox, receiver  # noqa: F401
from tests.orders.conftest import carriers, child_order, released  # noqa: F401
