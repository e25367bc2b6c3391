import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test.utils import override_settings

from core.actors import Actor
from core.read_once import shared_answers
from customers.models import Customer
from devdata.demo import demo_data_load


def pytest_collection_modifyitems(items):
    """Every database test may reach both connections: `default`, and `gateway`, through
    which the payment simulator keeps its own ledger (a charge it recorded survives our
    rollback, as at a real gateway)."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            continue
        kwargs = dict(marker.kwargs)
        if kwargs.get("databases") is None:
            kwargs["databases"] = ["default", "gateway"]
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(scope="session", autouse=True)
def test_settings():
    """Test settings, for the whole session:
    - demo users are created with the cheapest hasher (PBKDF2 would cost a second a run);
    - static files come from the app folders, as with DEBUG on: the manifest storage used
      in production needs collectstatic before any page can render;
    - gateway calls of the payment job are made one after the other."""
    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        # Gateway calls in the test's own thread: a pool thread has its own connection
        # and would not see the test's uncommitted rows. Tests of concurrency with real
        # workers set it themselves.
        PAYMENT_GATEWAY_CONCURRENCY=1,
        # The simulator's ledger in the calling thread too, for the same reason.
        PAYMENT_SIMULATOR_LEDGER_THREADS=0,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        yield


@pytest.fixture(autouse=True)
def configuration_answers_kept_by_no_earlier_test():
    """Each test starts as a process that has kept no configuration answer
    (core.read_once): what a test reads does not depend on which tests ran before it in
    the same process (the demo data is committed once, so its version is the same)."""
    shared_answers.clear()
    yield
    shared_answers.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, test_settings):
    """Load the demo data once: every test's transaction rolls back to it. Without its
    delivery modes and tax tables (`demo_priced` adds them): most tests are about money
    moving exactly once, and read amounts as goods; those of delivery and tax set up the
    tables they need, or ask for the demo's.

    On the way out, close every connection before the test database is dropped: `gateway`
    points at the same database as `default` and would otherwise keep it open."""
    with django_db_blocker.unblock():
        demo_data_load(pricing=False)
    yield
    with django_db_blocker.unblock():
        connections.close_all()


@pytest.fixture
def demo(db):
    """The demo data (Karen Berg, items 0013-0015, 88000-88002, Visa).

    Loaded once per session; a transactional test empties the tables when it ends, so the
    next one that asks for the demo data loads it again."""
    if not Customer.objects.filter(account_number="004021").exists():
        demo_data_load(pricing=False)


@pytest.fixture
def demo_priced(demo):
    """The demo data as `make run` loads it: with Standard and Express delivery, Seattle's
    and Bellevue's sales tax, French TVA and Karen Laurent's euros (devdata/demo.py)."""
    demo_data_load(pricing=True)


@pytest.fixture
def agent(demo):
    return get_user_model().objects.get(username="agent")


@pytest.fixture
def actor(agent):
    return Actor.of_user(agent)


# Selling a continuity item through the order services is what most suites start from.
from tests.batch.conftest import sell, today  # noqa: E402, F401


@pytest.fixture
def gated_gateway(settings):
    """The payment simulator with gates (tests.gated_gateway): a test can hold a gateway
    call while another thread acts on the same rows."""
    from payments.gateways import get_gateway

    settings.PAYMENT_GATEWAY = "tests.gated_gateway.GatedSimulator"
    get_gateway.cache_clear()
    yield
    get_gateway.cache_clear()


@pytest.fixture
def written_log():
    """The log lines written during the test, as production writes them (JSON)."""
    from tests.log_capture import captured_log

    with captured_log() as stream:
        yield stream
