"""The full /health/'s check of the payment gateway: its cheapest call (PaymentGateway.ping)."""

import dataclasses
import datetime

from django.db import connections
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from payments.gateways import get_gateway
from payments.gateways.base import GatewayError


@dataclasses.dataclass
class Gateway(HealthCheck):
    """The payment gateway answers its cheapest call."""

    # A gateway slower than this is as good as down for charging.
    timeout: datetime.timedelta = dataclasses.field(
        default=datetime.timedelta(seconds=5), repr=False
    )

    def run(self) -> None:
        try:
            get_gateway().ping()
        except GatewayError as error:
            # A gateway's error may name its host or echo its answer: the caller gets a
            # general message, the log the detail (config.health).
            raise ServiceUnavailable("The payment gateway does not answer.") from error
        finally:
            # Checks run in a pool thread: the simulator's ledger connection would stay open.
            connections.close_all()
