from django.apps import AppConfig


class GatewaySimulatorConfig(AppConfig):
    name = "payments.gateways.simulator"
    label = "gateway_simulator"
    verbose_name = "Payment gateway simulator"
