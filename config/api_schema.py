"""OpenAPI links of the REST API: from an operation's answer to the operations it leads
to, with the parameters taken from that answer. A client (or a stateful fuzzer) follows
them through the seed procedure: find the customer, open an order, add lines (and choose
its delivery mode), complete, pay, submit, look at the subscription and act on it, start a
batch run and follow it.

drf-spectacular has no way to declare a link, so SPECTACULAR_SETTINGS
["POSTPROCESSING_HOOKS"] runs `add_links` on the generated schema. The links name
operations by operationId; a renamed operation or parameter fails the schema's
generation here rather than leaving a dead link."""

from __future__ import annotations

# (operationId, status) -> {link name: (target operationId, {parameter: expression},
# request body or None, description)}. Expressions are OpenAPI runtime expressions.
ORDER = "$response.body#/number"
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str], dict | None, str]]] = {
    ("customer_search", "200"): {
        "GetCustomer": (
            "customer_get",
            {"account_number": "$response.body#/results/0/account_number"},
            None,
            "The first customer found.",
        ),
    },
    ("customer_get", "200"): {
        "AddCard": (
            "customer_card_add",
            {"account_number": "$response.body#/account_number"},
            None,
            "Add a card to this customer.",
        ),
        "NewSalesOrder": (
            "sales_order_create",
            {},
            {"customer": "$response.body#/account_number"},
            "Open an order for this customer.",
        ),
        "ListSubscriptions": (
            "subscription_list",
            {"customer": "$response.body#/account_number"},
            None,
            "This customer's subscriptions.",
        ),
    },
    ("item_list", "200"): {
        "GetItem": (
            "item_get",
            {"item_number": "$response.body#/results/0/item_number"},
            None,
            "The first item listed.",
        ),
    },
    ("continuity_program_list", "200"): {
        "GetProgram": (
            "continuity_program_get",
            {"code": "$response.body#/results/0/code"},
            None,
            "The first program listed.",
        ),
    },
    ("sales_order_create", "201"): {
        "AddLine": ("sales_order_line_add", {"number": ORDER}, None, "Add a line."),
        "Complete": ("sales_order_complete", {"number": ORDER}, None, "Finish line entry."),
        "SetPayment": ("sales_order_payment_set", {"number": ORDER}, None, "Set the payment."),
        "Submit": ("sales_order_submit", {"number": ORDER}, None, "Submit the order."),
        "GetSalesOrder": ("sales_order_get", {"number": ORDER}, None, "The order."),
        "SetDeliveryMode": (
            "sales_order_delivery_mode_set",
            {"number": ORDER},
            None,
            "Choose how it is delivered.",
        ),
    },
    ("sales_order_line_add", "201"): {
        "AddLine": ("sales_order_line_add", {"number": ORDER}, None, "Add another line."),
        "Complete": ("sales_order_complete", {"number": ORDER}, None, "Finish line entry."),
        "GetSalesOrder": ("sales_order_get", {"number": ORDER}, None, "The order."),
        "SetDeliveryMode": (
            "sales_order_delivery_mode_set",
            {"number": ORDER},
            None,
            "Choose how it is delivered.",
        ),
    },
    ("sales_order_delivery_mode_set", "200"): {
        "AddLine": ("sales_order_line_add", {"number": ORDER}, None, "Add a line."),
        "Complete": ("sales_order_complete", {"number": ORDER}, None, "Price it for payment."),
        "GetSalesOrder": ("sales_order_get", {"number": ORDER}, None, "The order."),
    },
    ("sales_order_complete", "200"): {
        "SetPayment": ("sales_order_payment_set", {"number": ORDER}, None, "Set the payment."),
        "Submit": ("sales_order_submit", {"number": ORDER}, None, "Submit the order."),
    },
    ("sales_order_payment_set", "200"): {
        "Submit": ("sales_order_submit", {"number": ORDER}, None, "Submit the order."),
    },
    ("sales_order_submit", "200"): {
        "GetSalesOrder": ("sales_order_get", {"number": ORDER}, None, "The order."),
        "GetSubscription": (
            "subscription_get",
            {"subscription_id": "$response.body#/subscriptions/0/id"},
            None,
            "The subscription the order's first continuity line started.",
        ),
        "CreateChildOrders": (
            "batch_run_start",
            {},
            {"sales_order": ORDER},
            "A batch run for this parent order's subscriptions.",
        ),
    },
    ("subscription_list", "200"): {
        "GetSubscription": (
            "subscription_get",
            {"subscription_id": "$response.body#/results/0/id"},
            None,
            "The first subscription listed.",
        ),
    },
    ("subscription_get", "200"): {
        "Act": (
            "subscription_action",
            {"subscription_id": "$response.body#/id"},
            None,
            "An action on this subscription (skip, pause, cancel...).",
        ),
        "ReleaseHold": (
            "subscription_release_hold",
            {"subscription_id": "$response.body#/id"},
            None,
            "Release its payment hold.",
        ),
    },
    ("batch_run_start", "202"): {
        "GetBatchRun": ("batch_run_get", {"run_id": "$response.body#/id"}, None, "Follow the run."),
        "ResumeBatchRun": (
            "batch_run_resume",
            {"run_id": "$response.body#/id"},
            None,
            "Dispatch its unfinished chunks again.",
        ),
    },
    ("batch_run_list", "200"): {
        "GetBatchRun": (
            "batch_run_get",
            {"run_id": "$response.body#/results/0/id"},
            None,
            "The newest run.",
        ),
    },
    ("batch_run_get", "200"): {
        "ResumeBatchRun": (
            "batch_run_resume",
            {"run_id": "$response.body#/id"},
            None,
            "Dispatch its unfinished chunks again.",
        ),
    },
}


def add_links(result, generator, request, public):
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: LINKS into the schema's responses."""
    operations = {
        operation["operationId"]: operation
        for methods in result["paths"].values()
        for operation in methods.values()
    }
    for (source_id, status), links in LINKS.items():
        response = operations[source_id]["responses"][status]
        response["links"] = {}
        for name, (target_id, parameters, body, description) in links.items():
            target_parameters = {p["name"] for p in operations[target_id].get("parameters", [])}
            unknown = set(parameters) - target_parameters
            if unknown:
                raise ValueError(f"Link {source_id} -> {target_id}: no parameter {unknown}")
            link = {"operationId": target_id, "description": description}
            if parameters:
                link["parameters"] = parameters
            if body is not None:
                link["requestBody"] = body
            response["links"][name] = link
    return result
