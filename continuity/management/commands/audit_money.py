import datetime

from django.core.management.base import CommandError
from django.utils import timezone

from continuity.money_audit import money_audit
from core.management.one_line import OneLineErrorCommand, whole_number


class Command(OneLineErrorCommand):
    help = (
        "Compare our payments, shipments and child orders with each other and with the "
        "gateway's ledger; print one line per discrepancy. Exit status: 0 when the books "
        "are right, 1 if there is any finding, 2 on bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since-hours",
            type=whole_number("hours", minimum=1),
            default=None,
            metavar="HOURS",
            help="compare the gateway's ledger of the last HOURS hours only (default: all of it)",
        )
        parser.add_argument(
            "--no-save",
            action="store_true",
            help="do not keep this audit (by default it is saved and shown on the payment "
            "exceptions page)",
        )

    def handle(self, *args, since_hours, no_save, **options):
        since = None
        if since_hours is not None:
            since = timezone.now() - datetime.timedelta(hours=since_hours)
        audit = money_audit(source="audit_money command", ledger_since=since, save=not no_save)
        for finding in audit.findings:
            self.stdout.write(f"{finding['kind']}: {finding['subject']}: {finding['detail']}")
        checked = ", ".join(f"{value} {name}" for name, value in audit.checked.items())
        self.stdout.write(f"Money audit: {audit.finding_count} finding(s); checked {checked}.")
        if audit.finding_count:
            raise CommandError(
                f"{audit.finding_count} discrepancy(ies) in the books.", returncode=1
            )
