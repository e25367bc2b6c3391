"""Run one payment service in a process that is killed (SIGKILL: no clean-up, no
rollback handler, no `finally`) the moment the gateway has answered, before our database
records the answer: what a power cut or the OOM killer does.

    python -m tests.payments.die_after_gateway_answer submit <sales order id>
    python -m tests.payments.die_after_gateway_answer refund <sale payment id> <amount>

It reaches the database named by DATABASE_URL. If it is not killed it exits with status 3.
"""

import os
import signal
import sys
from decimal import Decimal


def _die_after(call):
    def call_then_die(**kwargs):
        call(**kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    return call_then_die


def main(command: str, *args: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from core.actors import Actor
    from orders.services import sales_order_submit
    from payments.gateways import get_gateway
    from payments.services import payment_refund

    # The gateway is outside our system; wrapping it is how a test stands between it and us.
    gateway = get_gateway()
    gateway.sale = _die_after(gateway.sale)
    gateway.refund = _die_after(gateway.refund)
    actor = Actor.job("doomed-process")
    if command == "submit":
        sales_order_submit(order_id=int(args[0]), actor=actor)
    elif command == "refund":
        payment_refund(payment_id=int(args[0]), amount=Decimal(args[1]), actor=actor)
    else:
        sys.exit(f"unknown command {command!r}")
    sys.exit(3)


if __name__ == "__main__":
    main(*sys.argv[1:])
