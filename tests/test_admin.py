"""The Django admin: every page renders, configuration is editable and validated, and
whatever only services may change (money, statuses, the audit trail) is read-only."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.db import connections
from django.forms import CheckboxInput
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batch.models import BatchChunk, BatchJob, BatchRun, BatchRunProblem, BatchRunStatus
from batch.services import batch_run_inline, batch_run_request
from continuity.models import (
    ContinuityParameters,
    ContinuityProgram,
    Occurrence,
    OccurrenceLine,
    ProgramEvent,
    ProgramEventLine,
    Subscription,
)
from core.actors import Actor
from core.dates import business_date
from core.models import (
    AuditEntry,
    Notification,
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from core.webhooks import webhook_events_fan_out
from customers.models import Address, Customer
from devdata.demo import DEMO_PASSWORD
from orders.fulfilment.services import (
    ShipmentConfirmation,
    sales_order_release,
    warehouse_shipment_record,
)
from orders.models import (
    Carrier,
    Invoice,
    Item,
    NumberSequence,
    SalesOrder,
    SalesOrderLine,
    WarehouseShipment,
)
from orders.services import (
    sales_order_complete,
    sales_order_create,
    sales_order_line_add,
    sales_order_payment_set,
    sales_order_submit,
)
from payments.gateways.simulator.models import DroppedRequest, SimulatedCard, SimulatedTransaction
from payments.models import Card, Payment
from payments.services import card_add
from tests.factories import DeliveryModeFactory, tax_tables_seattle_and_france

PROJECT_APPS = {
    "core",
    "customers",
    "continuity",
    "orders",
    "payments",
    "gateway_simulator",
    "batch",
}

# Only services write these: the admin shows them and refuses every change.
READ_ONLY_MODELS = [
    AuditEntry,
    Notification,
    OutboxEvent,
    WebhookDelivery,
    SalesOrder,
    SalesOrderLine,
    WarehouseShipment,
    Invoice,
    NumberSequence,
    Subscription,
    Occurrence,
    OccurrenceLine,
    Payment,
    SimulatedCard,
    SimulatedTransaction,
    DroppedRequest,
    BatchRun,
    BatchRunProblem,
    BatchChunk,
]
# Besides the read-only models: cards come from the tokenizing service, and the one row
# of parameters from ContinuityParameters.load().
# django-axes' records of sign-ins are written by its handler only.
NO_ADD_MODELS = {
    *READ_ONLY_MODELS,
    Card,
    ContinuityParameters,
    AccessAttempt,
    AccessFailureLog,
    AccessLog,
}

REGISTERED_MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(response) -> dict:
    """The POST data of the admin form in `response`, as the browser would send it
    unchanged: the main form, every inline form and the management forms."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update(
            {f"{management.prefix}-{name}": value for name, value in management.initial.items()}
        )
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            bound = form[name]
            value = bound.value()
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[bound.html_name] = "on"
            elif value is not None:
                data[bound.html_name] = value
    return data


def row_values(model, pk) -> dict:
    return model._default_manager.filter(pk=pk).values().get()


@pytest.fixture
def administrator_client(demo, client):
    """The demo's Administrator, signed in with the password the demo command prints."""
    assert client.login(request=HttpRequest(), username="admin", password=DEMO_PASSWORD)
    return client


def sell_continuity_item(*, account_number: str, actor: Actor) -> SalesOrder:
    """The seed procedure through the services: a customer buys 88000 and a regular item."""
    customer = Customer.objects.get(account_number=account_number)
    order = sales_order_create(customer=customer, actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="88000", actor=actor)
    sales_order_line_add(order_id=order.pk, item_number="0013", actor=actor)
    sales_order_complete(order_id=order.pk, actor=actor)
    card = card_add(
        customer=customer,
        card_number="4111 1111 1111 1111",
        expiry_month=12,
        expiry_year=business_date().year + 3,
        security_code="123",
        name_on_card=customer.full_name,
        actor=actor,
    )
    sales_order_payment_set(order_id=order.pk, method_code="Visa", card_id=card.pk, actor=actor)
    return sales_order_submit(order_id=order.pk, actor=actor)


def record_batch_run(order: SalesOrder, number: int) -> BatchRun:
    # The batch jobs are not the subject here: a finished run written as they would.
    run = BatchRun.objects.create(
        job=BatchJob.PROCESS_PAYMENTS,
        status=BatchRunStatus.FINISHED_WITH_PROBLEMS,
        item=Item.objects.get(item_number="88000"),
        sales_order=order,
        run_date=business_date(),
        started_by_label="admin-test",
        selected_count=1,
        not_processed_count=1,
    )
    BatchRunProblem.objects.create(
        run=run,
        occurrence=order.subscriptions.get().occurrences.last(),
        reason="awaiting_payment",
        detail=f"problem {number}",
    )
    BatchChunk.objects.create(
        run=run,
        number=1,
        groups=[[order.subscriptions.get().occurrences.last().pk]],
        status=BatchChunk.Status.DONE,
        counts={"paid": 1},
    )
    DroppedRequest.objects.create(idempotency_key=f"admin-test-dropped-{number}")
    NumberSequence.objects.create(name=f"admin_test_{number}", last_value=number)
    return run


def ship_first_child_order(order: SalesOrder) -> None:
    """A carrier, and the order's first child order made by the job, released and shipped
    (its warehouse shipment and invoice), through the services."""
    job = Actor.job("admin-test")
    batch_run_inline(
        batch_run_request(
            job=BatchJob.CREATE_CHILD_ORDERS,
            actor=job,
            run_date=business_date(),
            order_number=order.number,
        )
    )
    child = order.child_orders.get()
    if child.status == "submitted":
        sales_order_release(order_id=child.pk, actor=job)
    Carrier.objects.create(
        code="UPS", name="UPS", tracking_url="https://www.ups.com/track?tracknum={tracking_number}"
    )
    warehouse_shipment_record(
        ShipmentConfirmation(
            order_number=child.number,
            warehouse_reference="WH-ADMIN-1",
            carrier_code="UPS",
            tracking_number="1ZADMIN",
            shipped_date=business_date(),
            lines=((1, 1, ""),),
        ),
        source="api",
        actor=job,
    )


@pytest.fixture
def every_model_has_rows(demo, actor):
    """Rows for the models the demo data leaves empty: orders, subscriptions, payments,
    cards, the simulator's ledger, the audit trail, outbound events and their webhook
    deliveries, batch runs, delivery modes, the tax tables."""
    endpoint = WebhookEndpoint.objects.create(url="https://erp.example/hooks")
    order = sell_continuity_item(account_number="004021", actor=actor)
    record_batch_run(order, 1)
    ship_first_child_order(order)
    # Its events' deliveries, one with an attempt (sending is tests/core's subject).
    webhook_events_fan_out()
    WebhookAttempt.objects.create(
        delivery=WebhookDelivery.objects.filter(endpoint=endpoint).first(), status_code=500
    )
    DeliveryModeFactory(code="STD", name_en="Standard", name_fr="Standard", is_default=True)
    tax_tables_seattle_and_france()
    return order


# --- Every page renders ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=lambda model: model._meta.label)
def test_changelist_search_add_and_change_pages_render(
    administrator_client, every_model_has_rows, model
):
    changelist = administrator_client.get(admin_url(model, "changelist"), follow=True)
    assert changelist.status_code == 200

    searched = administrator_client.get(admin_url(model, "changelist"), {"q": "zz 42"}, follow=True)
    assert searched.status_code == 200

    add = administrator_client.get(admin_url(model, "add"))
    assert add.status_code == (403 if model in NO_ADD_MODELS else 200)

    row = model._default_manager.order_by("pk").first()
    if row is None:
        assert model._meta.app_label not in PROJECT_APPS, f"no {model._meta.label} row to show"
        return
    change = administrator_client.get(admin_url(model, "change", row.pk))
    assert change.status_code == 200


@pytest.mark.django_db
def test_no_changelist_query_count_grows_with_its_rows(
    administrator_client, every_model_has_rows, actor
):
    project_models = [m for m in REGISTERED_MODELS if m._meta.app_label in PROJECT_APPS]

    def query_counts():
        counts = {}
        for model in project_models:
            # The simulator's ledger is read through its own connection.
            with (
                CaptureQueriesContext(connections["default"]) as queries,
                CaptureQueriesContext(connections["gateway"]) as gateway_queries,
            ):
                response = administrator_client.get(admin_url(model, "changelist"), follow=True)
            assert response.status_code == 200
            counts[model._meta.label] = len(queries) + len(gateway_queries)
        return counts

    query_counts()  # warms the per-process caches (content types) out of the count
    before = query_counts()
    order = sell_continuity_item(account_number="004022", actor=actor)
    sell_continuity_item(account_number="004023", actor=actor)
    record_batch_run(order, 2)
    record_batch_run(order, 3)
    after = query_counts()

    assert after == before


# --- Customers -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["berg", "BERG", "004021", "karen berg", "karen.berg@example.com", "(206) 555-0142"]
)
def test_customer_search_finds_karen_berg(administrator_client, query):
    response = administrator_client.get(admin_url(Customer, "changelist"), {"q": query})

    assert response.status_code == 200
    assert [c.account_number for c in response.context["cl"].result_list] == ["004021"]


@pytest.mark.django_db
def test_customer_search_by_first_name_lists_every_karen(administrator_client):
    response = administrator_client.get(admin_url(Customer, "changelist"), {"q": "karen"})

    accounts = [c.account_number for c in response.context["cl"].result_list]
    assert accounts == ["004021", "004022", "004025", "004023", "004024"]


@pytest.mark.django_db
def test_customer_added_with_an_address_inline(administrator_client):
    data = form_data(administrator_client.get(admin_url(Customer, "add")))
    data.update(
        {
            "account_number": "009001",
            "first_name": "Nora",
            "last_name": "Lind",
            "language": "en",
            "addresses-TOTAL_FORMS": "1",
            "addresses-0-kind": "shipping",
            "addresses-0-is_default": "on",
            "addresses-0-street": "9 Elm Street",
            "addresses-0-city": "Tacoma",
            "addresses-0-postal_code": "98402",
            "addresses-0-country": "US",
        }
    )

    response = administrator_client.post(admin_url(Customer, "add"), data)

    assert response.status_code == 302
    customer = Customer.objects.get(account_number="009001")
    assert customer.search_document == "009001 nora lind"
    assert [(a.kind, a.city, a.is_default) for a in customer.addresses.all()] == [
        ("shipping", "Tacoma", True)
    ]


@pytest.mark.django_db
def test_second_default_address_of_a_kind_is_a_form_error(administrator_client):
    karen = Customer.objects.get(account_number="004021")
    url = admin_url(Customer, "change", karen.pk)
    data = form_data(administrator_client.get(url))
    total = int(data["addresses-TOTAL_FORMS"])
    data.update(
        {
            "addresses-TOTAL_FORMS": str(total + 1),
            f"addresses-{total}-kind": "shipping",
            f"addresses-{total}-is_default": "on",
            f"addresses-{total}-street": "2 Second Street",
            f"addresses-{total}-city": "Seattle",
            f"addresses-{total}-postal_code": "98102",
            f"addresses-{total}-country": "US",
        }
    )

    response = administrator_client.post(url, data)

    assert response.status_code == 200
    assert "Only one address of the kind Shipping can be the default." in response.content.decode()
    assert karen.addresses.count() == 2


# --- Continuity programs -----------------------------------------------------------------


def program_post_data(*events, bill_up_front=False) -> dict:
    data = {
        "code": "ADMINTEST",
        "name": "Admin test program",
        "active": "on",
        "days_to_first_shipment": "0",
        "events-TOTAL_FORMS": str(len(events)),
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    if bill_up_front:
        data["bill_up_front"] = "on"
    for index, (number, interval, unit, repeat, action) in enumerate(events):
        data.update(
            {
                f"events-{index}-event_number": str(number),
                f"events-{index}-interval_count": str(interval),
                f"events-{index}-interval_unit": unit,
                f"events-{index}-repeat_count": "" if repeat is None else str(repeat),
                f"events-{index}-action": action,
            }
        )
    return data


def program_counts() -> tuple[int, int, int]:
    return (
        ContinuityProgram.objects.count(),
        ProgramEvent.objects.count(),
        ProgramEventLine.objects.count(),
    )


@pytest.mark.django_db
def test_program_with_an_open_ended_event_before_another_is_refused(administrator_client):
    counts = program_counts()
    data = program_post_data(
        (1, 1, "months", None, "normal"),
        (2, 1, "months", 3, "normal"),
    )

    response = administrator_client.post(admin_url(ContinuityProgram, "add"), data)

    assert response.status_code == 200
    assert (
        "This program cannot be scheduled: Event 1 repeats until cancelled, so it must be "
        "the last event that ships." in response.content.decode()
    )
    assert program_counts() == counts


@pytest.mark.django_db
def test_open_ended_program_billed_up_front_is_refused(administrator_client):
    counts = program_counts()
    data = program_post_data((1, 1, "months", None, "normal"), bill_up_front=True)

    response = administrator_client.post(admin_url(ContinuityProgram, "add"), data)

    assert response.status_code == 200
    assert (
        "A program that runs until cancelled cannot be billed up front."
        in response.content.decode()
    )
    assert program_counts() == counts


@pytest.mark.django_db
def test_program_without_an_event_that_ships_is_refused(administrator_client):
    counts = program_counts()

    response = administrator_client.post(admin_url(ContinuityProgram, "add"), program_post_data())

    assert response.status_code == 200
    assert "The program has no event that ships anything." in response.content.decode()
    assert program_counts() == counts


@pytest.mark.django_db
def test_valid_program_is_saved_with_its_events(administrator_client):
    data = program_post_data(
        (1, 1, "months", 2, "normal"),
        (2, 0, "days", None, "skip"),
        (3, 2, "weeks", None, "normal"),
    )

    response = administrator_client.post(admin_url(ContinuityProgram, "add"), data)

    assert response.status_code == 302
    program = ContinuityProgram.objects.get(code="ADMINTEST")
    assert [
        (e.event_number, e.interval_count, e.interval_unit, e.repeat_count, e.action)
        for e in program.events.order_by("event_number")
    ] == [
        (1, 1, "months", 2, "normal"),
        (2, 0, "days", None, "skip"),
        (3, 2, "weeks", None, "normal"),
    ]


@pytest.mark.django_db
def test_existing_program_turned_open_ended_and_billed_up_front_is_refused(administrator_client):
    tea = ContinuityProgram.objects.get(code="TEA3PREPAID")
    url = admin_url(ContinuityProgram, "change", tea.pk)
    data = form_data(administrator_client.get(url))
    assert data["bill_up_front"] == "on"
    data["events-0-repeat_count"] = ""

    response = administrator_client.post(url, data)

    assert response.status_code == 200
    assert (
        "A program that runs until cancelled cannot be billed up front."
        in response.content.decode()
    )
    assert tea.events.get().repeat_count == 3


@pytest.mark.django_db
def test_program_page_links_each_event_to_its_lines(administrator_client):
    wellness = ContinuityProgram.objects.get(code="WELLNESS6")
    event = wellness.events.get(event_number=1)

    response = administrator_client.get(admin_url(ContinuityProgram, "change", wellness.pk))

    content = response.content.decode()
    assert admin_url(ProgramEvent, "change", event.pk) in content
    assert "1 x 0013 @ 17.99, 1 x 0015 @ 9.99" in content


@pytest.mark.django_db
def test_event_page_adds_a_line(administrator_client):
    event = ContinuityProgram.objects.get(code="TEA3PREPAID").events.get()
    url = admin_url(ProgramEvent, "change", event.pk)
    data = form_data(administrator_client.get(url))
    total = int(data["lines-TOTAL_FORMS"])
    data.update(
        {
            "lines-TOTAL_FORMS": str(total + 1),
            f"lines-{total}-item": str(Item.objects.get(item_number="0013").pk),
            f"lines-{total}-quantity": "1",
            f"lines-{total}-unit_price": "5.00",
        }
    )

    response = administrator_client.post(url, data)

    assert response.status_code == 302
    assert [
        (line.item.item_number, line.quantity, str(line.unit_price)) for line in event.lines.all()
    ] == [
        ("0015", 2, "10.50"),
        ("0013", 1, "5.00"),
    ]


@pytest.mark.django_db
def test_event_page_refuses_an_open_ended_event_before_another(administrator_client):
    program = ContinuityProgram.objects.get(code="TEA3PREPAID")
    program.bill_up_front = False
    program.save()
    first = program.events.get()
    second = ProgramEvent.objects.create(
        program=program, event_number=2, interval_count=1, interval_unit="months", repeat_count=1
    )
    ProgramEventLine.objects.create(event=second, item=first.lines.get().item, unit_price=1)
    url = admin_url(ProgramEvent, "change", first.pk)
    data = form_data(administrator_client.get(url))
    data["repeat_count"] = ""

    response = administrator_client.post(url, data)

    assert response.status_code == 200
    assert "so it must be the last event that ships." in response.content.decode()
    first.refresh_from_db()
    assert first.repeat_count == 3


@pytest.mark.django_db
def test_event_page_refuses_to_remove_the_last_line_of_a_shipping_event(administrator_client):
    event = ContinuityProgram.objects.get(code="TEA3PREPAID").events.get()
    url = admin_url(ProgramEvent, "change", event.pk)
    data = form_data(administrator_client.get(url))
    data["lines-0-DELETE"] = "on"

    response = administrator_client.post(url, data)

    assert response.status_code == 200
    assert "An event that ships needs at least one line." in response.content.decode()
    assert event.lines.count() == 1


@pytest.mark.django_db
def test_deleting_the_only_event_of_a_program_is_refused(administrator_client):
    event = ContinuityProgram.objects.get(code="TEA3PREPAID").events.get()

    response = administrator_client.post(
        admin_url(ProgramEvent, "delete", event.pk), {"post": "yes"}
    )

    assert response.status_code == 302
    assert response["Location"] == admin_url(ProgramEvent, "change", event.pk)
    assert ProgramEvent.objects.filter(pk=event.pk).exists()


# --- Parameters: one row ----------------------------------------------------------------


@pytest.mark.django_db
def test_parameters_changelist_redirects_to_the_single_row(administrator_client):
    response = administrator_client.get(admin_url(ContinuityParameters, "changelist"))

    assert response.status_code == 302
    assert response["Location"] == admin_url(
        ContinuityParameters, "change", ContinuityParameters.SINGLETON_ID
    )


@pytest.mark.django_db
def test_parameters_changelist_makes_the_row_when_missing(administrator_client):
    ContinuityParameters.objects.all().delete()

    response = administrator_client.get(admin_url(ContinuityParameters, "changelist"))

    assert response["Location"] == admin_url(ContinuityParameters, "change", 1)
    assert list(ContinuityParameters.objects.values_list("id", flat=True)) == [1]


@pytest.mark.django_db
def test_parameters_are_edited_but_never_added_or_deleted(administrator_client):
    url = admin_url(ContinuityParameters, "change", 1)
    data = form_data(administrator_client.get(url))
    data["payment_lead_days"] = "7"

    changed = administrator_client.post(url, data)
    added = administrator_client.post(admin_url(ContinuityParameters, "add"), data)
    deleted = administrator_client.post(
        admin_url(ContinuityParameters, "delete", 1), {"post": "yes"}
    )

    assert (changed.status_code, added.status_code, deleted.status_code) == (302, 403, 403)
    assert list(ContinuityParameters.objects.values_list("id", "payment_lead_days")) == [(1, 7)]


# --- Read-only models -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=lambda model: model._meta.label)
def test_read_only_admin_refuses_change_add_and_delete(
    administrator_client, every_model_has_rows, model
):
    row = model._default_manager.order_by("pk").first()
    before = row_values(model, row.pk)
    count = model._default_manager.count()
    page = administrator_client.get(admin_url(model, "change", row.pk))
    posted = {**before, "status": "cancelled", "amount": "1.00", "reason": "edited"}
    posted = {name: value for name, value in posted.items() if value is not None}

    changed = administrator_client.post(admin_url(model, "change", row.pk), posted)
    added = administrator_client.post(admin_url(model, "add"), posted)
    deleted = administrator_client.post(admin_url(model, "delete", row.pk), {"post": "yes"})

    assert 'name="_save"' not in page.content.decode()
    assert (changed.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    assert row_values(model, row.pk) == before
    assert model._default_manager.count() == count


@pytest.mark.django_db
def test_card_admin_changes_only_active(administrator_client, every_model_has_rows):
    card = Card.objects.get()
    before = row_values(Card, card.pk)
    url = admin_url(Card, "change", card.pk)
    page = administrator_client.get(url)
    data = form_data(page)
    data.update({"last4": "9999", "name_on_card": "Someone Else", "token": "tok_stolen"})
    del data["active"]

    response = administrator_client.post(url, data)

    assert response.status_code == 302
    assert row_values(Card, card.pk) == {**before, "active": False}
    assert card.token not in page.content.decode()


@pytest.mark.django_db
def test_cards_are_never_added_or_deleted_in_the_admin(administrator_client, every_model_has_rows):
    card = Card.objects.get()

    added = administrator_client.get(admin_url(Card, "add"))
    deleted = administrator_client.post(admin_url(Card, "delete", card.pk), {"post": "yes"})

    assert (added.status_code, deleted.status_code) == (403, 403)
    assert Card.objects.filter(pk=card.pk).exists()


@pytest.mark.django_db
def test_order_page_shows_lines_and_payments(administrator_client, every_model_has_rows):
    order = every_model_has_rows

    response = administrator_client.get(admin_url(SalesOrder, "change", order.pk))

    content = response.content.decode()
    assert admin_url(SalesOrderLine, "change", order.lines.get(line_number=1).pk) in content
    assert admin_url(Payment, "change", order.payments.get().pk) in content


@pytest.mark.django_db
def test_batch_run_page_counts_problems_by_reason(administrator_client, every_model_has_rows):
    run = BatchRun.objects.get(job=BatchJob.PROCESS_PAYMENTS)

    response = administrator_client.get(admin_url(BatchRun, "change", run.pk))

    problems = admin_url(BatchRunProblem, "changelist")
    link = f"{problems}?run__id__exact={run.pk}&amp;reason=awaiting_payment"
    assert f'<a href="{link}">awaiting_payment</a>: 1' in response.content.decode()
    listed = administrator_client.get(
        admin_url(BatchRunProblem, "changelist"),
        {"run__id__exact": run.pk, "reason": "awaiting_payment"},
    )
    assert [problem.run_id for problem in listed.context["cl"].result_list] == [run.pk]


@pytest.mark.django_db
def test_address_admin_refuses_a_second_default_of_a_kind(administrator_client):
    karen = Customer.objects.get(account_number="004021")
    data = form_data(administrator_client.get(admin_url(Address, "add")))
    data.update(
        {
            "customer": str(karen.pk),
            "kind": "shipping",
            "is_default": "on",
            "street": "2 Second Street",
            "city": "Seattle",
            "postal_code": "98102",
            "country": "US",
        }
    )

    response = administrator_client.post(admin_url(Address, "add"), data)

    # A form error (the database constraint, checked before saving), not an IntegrityError.
    assert response.status_code == 200
    assert len(response.context["adminform"].form.non_field_errors()) == 1
    assert karen.addresses.count() == 2


@pytest.mark.django_db
def test_default_address_moves_to_a_new_address_in_one_save(administrator_client):
    karen = Customer.objects.get(account_number="004021")
    old_default = karen.addresses.get(kind="shipping")
    url = admin_url(Customer, "change", karen.pk)
    data = form_data(administrator_client.get(url))
    total = int(data["addresses-TOTAL_FORMS"])
    index = next(i for i in range(total) if data[f"addresses-{i}-id"] == old_default.pk)
    del data[f"addresses-{index}-is_default"]
    data.update(
        {
            "addresses-TOTAL_FORMS": str(total + 1),
            f"addresses-{total}-kind": "shipping",
            f"addresses-{total}-is_default": "on",
            f"addresses-{total}-street": "2 Second Street",
            f"addresses-{total}-city": "Seattle",
            f"addresses-{total}-postal_code": "98102",
            f"addresses-{total}-country": "US",
        }
    )

    response = administrator_client.post(url, data)

    assert response.status_code == 302
    assert list(
        karen.addresses.filter(kind="shipping").order_by("id").values_list("street", "is_default")
    ) == [("1420 Pine Street", False), ("2 Second Street", True)]
