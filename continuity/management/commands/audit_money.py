import argparse
import datetime
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from continuity.money_audit import money_audit


def _hours(value: str) -> int:
    try:
        hours = int(value)
    except ValueError:
        hours = -1
    if hours < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of hours, 1 or more: {value!r}")
    return hours


class Command(BaseCommand):
    help = (
        "Compare our payments, shipments and child orders with each other and with the "
        "gateway's ledger; print one line per discrepancy. Exit status: 0 when the books "
        "are right, 1 if there is any finding, 2 on bad arguments."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message):
            if parser.called_from_command_line:
                sys.stderr.write(f"audit_money: {message}\n")
                sys.exit(2)
            raise CommandError(message, returncode=2)

        parser.error = one_line_error
        return parser

    def add_arguments(self, parser):
        parser.add_argument(
            "--since-hours",
            type=_hours,
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
