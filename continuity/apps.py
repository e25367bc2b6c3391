from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContinuityConfig(AppConfig):
    name = "continuity"
    verbose_name = _("Continuity")

    def ready(self):
        from continuity.charging import is_shipment_sale, occurrence_charge_settle
        from payments.settlement import Settler, settler_register

        # A shipment's sale that reconcile finds unanswered is settled as the payment job
        # would: the answer recorded on the shipment too (payments.settlement).
        settler_register(
            Settler("shipment_sale", handles=is_shipment_sale, settle=occurrence_charge_settle)
        )
