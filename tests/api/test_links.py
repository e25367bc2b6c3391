"""The schema's links chain the seed procedure: starting from a customer search, each next
call is built from the link on the previous answer (its operation, its parameters taken
from that answer by the link's runtime expressions, its body merged with the link's), as
a client or a stateful fuzzer does; only what no answer holds is added (the item, the
card, the reason code)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from continuity.models import ReasonCode

pytestmark = pytest.mark.django_db

BODY = "$response.body#"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(expression, answer: dict):
    """An OpenAPI runtime expression `$response.body#/a/0/b` against the answer's body
    (the only kind the links use)."""
    if not isinstance(expression, str) or not expression.startswith(BODY):
        return expression
    value = answer
    for part in expression.removeprefix(BODY).strip("/").split("/"):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


class Walker:
    def __init__(self, schema, client):
        self.client = client
        self.operations = {
            operation["operationId"]: (path, method, operation)
            for path, methods in schema["paths"].items()
            for method, operation in methods.items()
        }

    def call(self, operation_id, *, path_parameters=None, query=None, body=None):
        path, method, _ = self.operations[operation_id]
        for name, value in (path_parameters or {}).items():
            path = path.replace(f"{{{name}}}", str(value))
        if method == "get":
            return self.client.get(path, query or {})
        return self.client.post(path, body or {}, format="json")

    def follow(self, source_id, status, link_name, answer, *, extra_path=None, body=None):
        """Call the operation `link_name` leads to from `answer` (the body of source_id's
        `status` answer); the new answer's body."""
        _, _, source = self.operations[source_id]
        link = source["responses"][status]["links"][link_name]
        _, _, target = self.operations[link["operationId"]]
        where = {p["name"]: p["in"] for p in target.get("parameters", [])}
        values = {name: resolve(expr, answer) for name, expr in link.get("parameters", {}).items()}
        response = self.call(
            link["operationId"],
            path_parameters={
                **{n: v for n, v in values.items() if where[n] == "path"},
                **(extra_path or {}),
            },
            query={n: v for n, v in values.items() if where[n] == "query"},
            body={**(body or {}), **resolve_all(link.get("requestBody", {}), answer)},
        )
        assert response.status_code < 300, (link_name, response.content)
        return response.json()


def resolve_all(body: dict, answer: dict) -> dict:
    return {name: resolve(expression, answer) for name, expression in body.items()}


def test_the_links_lead_from_a_customer_search_to_a_subscription_action_and_a_run(
    schema, agent_api, supervisor_api, order_api
):
    agent = Walker(schema, agent_api)
    supervisor = Walker(schema, supervisor_api)
    card_id = order_api.add_card()
    reason = ReasonCode.objects.filter(active=True).order_by("code").first().code

    found = agent.call("customer_search", query={"search": "Karen Berg"}).json()
    customer = agent.follow("customer_search", "200", "GetCustomer", found)
    order = agent.follow("customer_get", "200", "NewSalesOrder", customer)
    assert order["customer"]["account_number"] == "004021"
    with_line = agent.follow(
        "sales_order_create", "201", "AddLine", order, body={"item_number": "88000"}
    )
    completed = agent.follow("sales_order_line_add", "201", "Complete", with_line)
    paid = agent.follow(
        "sales_order_complete",
        "200",
        "SetPayment",
        completed,
        body={"payment_method": "Visa", "card": card_id},
    )
    submitted = agent.follow("sales_order_payment_set", "200", "Submit", paid)
    assert submitted["status"] == "submitted"
    subscription = agent.follow("sales_order_submit", "200", "GetSubscription", submitted)
    assert subscription["parent_order"] == order["number"]
    preview = agent.follow(
        "subscription_get",
        "200",
        "Act",
        subscription,
        extra_path={"action": "skip"},
        body={"reason_code": reason, "preview": True},
    )
    assert preview["action"] == "skip" and preview["previewed_only"] is True
    run = supervisor.follow(
        "sales_order_submit",
        "200",
        "CreateChildOrders",
        submitted,
        body={"job": "create_child_orders"},
    )
    assert run["sales_order"] == order["number"]
    followed = supervisor.follow("batch_run_start", "202", "GetBatchRun", run)
    assert followed["id"] == run["id"]
