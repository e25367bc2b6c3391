"""The one way the application reaches a payment gateway."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from payments.gateways.base import PaymentGateway

SIMULATOR = "payments.gateways.simulator.gateway.SimulatorGateway"


@cache
def get_gateway() -> PaymentGateway:
    path = SIMULATOR if settings.PAYMENT_GATEWAY == "simulator" else settings.PAYMENT_GATEWAY
    return import_string(path)()
