from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class PaymentsConfig(AppConfig):
    name = "payments"
    # Not the order summary's "Payments" section ("Paiement" in French).
    verbose_name = pgettext_lazy("admin section", "Payments")

    def ready(self):
        from core.metrics import metrics_collector_register
        from core.outbox import outbox_topic_register
        from customers.page_sections import customer_page_section_register
        from payments.customer_section import CARDS_SECTION
        from payments.metrics import ChargesCollector
        from payments.models import PaymentStatus

        # The customer page shows the active cards (customers.page_sections).
        customer_page_section_register(CARDS_SECTION)
        # Charges by outcome, on /metrics (core.metrics).
        metrics_collector_register("charges", ChargesCollector())
        # Payments' audited changes (each sets a status) are outbound events for the
        # webhooks (core.outbox).
        outbox_topic_register("payments.payment", "payment", statuses=PaymentStatus.values)
