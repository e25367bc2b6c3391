import datetime
from collections import Counter

from django.core.management.base import CommandError

from core.actors import Actor
from core.errors import ServiceError
from core.management.one_line import OneLineErrorCommand, whole_number
from payments.selectors import payment_unanswered_list
from payments.services import payment_reconcile


class Command(OneLineErrorCommand):
    help = (
        "Look up at the gateway every payment whose answer was never recorded (pending or "
        "unknown) and record what the gateway says; an order whose sale was approved is "
        "submitted. Exit status: 0, or 1 if a payment could not be reconciled, 2 on bad "
        "arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=whole_number("seconds", minimum=0),
            default=60,
            metavar="SECONDS",
            help="only payments created at least this long ago (default 60): younger ones "
            "may still be waiting for their answer",
        )

    def handle(self, *args, older_than, **options):
        actor = Actor.job("reconcile_payments")
        payments = list(payment_unanswered_list(older_than=datetime.timedelta(seconds=older_than)))
        outcomes = Counter()
        for payment in payments:
            label = (
                f"payment {payment.pk} {payment.idempotency_key} ({payment.operation} "
                f"{payment.amount} {payment.currency}, sales order {payment.sales_order.number})"
            )
            try:
                after = payment_reconcile(payment_id=payment.pk, actor=actor).status
            except ServiceError as error:
                outcomes["failed"] += 1
                self.stdout.write(f"{label}: {payment.status} -> failed: {error.message}")
                continue
            outcomes[after] += 1
            self.stdout.write(f"{label}: {payment.status} -> {after}")
        still_unknown = outcomes["unknown"] + outcomes["pending"]
        self.stdout.write(
            f"Reconciled {len(payments)} payment(s) older than {older_than}s: "
            f"{outcomes['approved']} approved, {outcomes['declined']} declined, "
            f"{still_unknown} still unknown, {outcomes['failed']} failed."
        )
        if outcomes["failed"]:
            raise CommandError(f"{outcomes['failed']} payment(s) could not be reconciled.")
