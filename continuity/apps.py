from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContinuityConfig(AppConfig):
    name = "continuity"
    verbose_name = _("Continuity")

    def ready(self):
        from continuity import order_entry
        from continuity.charging import is_shipment_sale, occurrence_charge_settle
        from continuity.customer_section import SUBSCRIPTIONS_SECTION
        from continuity.models import OccurrenceStatus, SubscriptionStatus
        from core.outbox import outbox_topic_register
        from customers.page_sections import customer_page_section_register
        from payments.settlement import Settler, settler_register

        # A shipment's sale that reconcile finds unanswered is settled as the payment job
        # would: the answer recorded on the shipment too (payments.settlement).
        settler_register(
            Settler("shipment_sale", handles=is_shipment_sale, settle=occurrence_charge_settle)
        )
        # Order entry prices program lines, shows their shipments and starts their
        # subscriptions at submit through continuity (orders.programs).
        order_entry.register()
        # The customer page shows the subscriptions (customers.page_sections).
        customer_page_section_register(SUBSCRIPTIONS_SECTION)
        # Shipments' and subscriptions' audited changes are outbound events for the
        # webhooks (core.outbox); the actions are those recorded without a status.
        outbox_topic_register(
            "continuity.occurrence",
            "shipment",
            statuses=OccurrenceStatus.values,
            actions=(
                "occurrence_rescheduled",
                "occurrence_program_change",
                "shipment_repriced",
                "payment_unknown_settled",
            ),
        )
        outbox_topic_register(
            "continuity.subscription",
            "subscription",
            statuses=SubscriptionStatus.values,
            actions=(
                "subscription_card_changed",
                "subscription_ship_to_changed",
                "subscription_planned",
            ),
        )
