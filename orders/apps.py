from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Sales orders")

    def ready(self):
        from core.metrics import metrics_collector_register
        from core.outbox import outbox_topic_register
        from customers.page_sections import customer_page_section_register
        from orders.customer_section import RECENT_ORDERS_SECTION
        from orders.metrics import ChildOrdersCollector
        from orders.models import SalesOrderStatus
        from orders.services import is_order_sale, order_sale_settle
        from payments.settlement import Settler, settler_register

        # The sale taken at submit is settled by the order's own submit, which owns
        # "approved sale => submitted order" (payments.settlement).
        settler_register(Settler("order_sale", handles=is_order_sale, settle=order_sale_settle))
        # The customer page shows the latest orders and starts a new one
        # (customers.page_sections).
        customer_page_section_register(RECENT_ORDERS_SECTION)
        # Child orders created, on /metrics (core.metrics).
        metrics_collector_register("child_orders", ChildOrdersCollector())
        # An order's audited changes are outbound events for the webhooks (core.outbox);
        # the actions are those its services record without a status.
        outbox_topic_register(
            "orders.salesorder",
            "order",
            statuses=SalesOrderStatus.values,
            actions=(
                "order_line_added",
                "order_line_removed",
                "order_line_start_date_set",
                "order_delivery_mode_set",
                # Order entry's Complete: "order.entry_completed", not the status
                # Completed an order reaches once fulfilled ("order.completed").
                "order_entry_completed",
                "order_payment_set",
                "shipment_recorded",
            ),
            reference="number",
        )
