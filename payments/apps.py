from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class PaymentsConfig(AppConfig):
    name = "payments"
    # Not the order summary's "Payments" section (SPEC 2: "Paiement" in French).
    verbose_name = pgettext_lazy("admin section", "Payments")
