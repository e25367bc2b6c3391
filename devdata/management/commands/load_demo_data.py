from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devdata.demo import DEMO_PASSWORD, USERS, demo_data_load

# A refusal, told apart from a crash by scripts.
REFUSED = 2


class Command(BaseCommand):
    help = (
        "Load the demo data (customers, items 0013-0015 and 88000-88002, delivery modes STD "
        "and EXP, the tax tables of Seattle and Bellevue, WA and France, carriers UPS, FEDEX, "
        "USPS and COLISSIMO, users per role "
        "with a published password). Refused when DEBUG is off unless --allow-in-production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-in-production",
            action="store_true",
            help="load it although DEBUG is off (a benchmark or a demo server, never real data)",
        )

    def handle(self, *args, allow_in_production, **options):
        # The demo users sign in with a password printed in the README: on a production
        # database they would be open doors, so loading them there takes a deliberate flag.
        if not settings.DEBUG and not allow_in_production:
            raise CommandError(
                "DEBUG is off: the demo data (users with a published password) is not "
                "loaded in production; pass --allow-in-production to load it anyway.",
                returncode=REFUSED,
            )
        created = demo_data_load()
        if created:
            self.stdout.write(f"Created users: {', '.join(created)}.")
        else:
            self.stdout.write("Demo data already loaded; nothing changed.")
        logins = ", ".join(f"{username} ({role})" for username, _f, _l, role, *_ in USERS)
        self.stdout.write(f"Demo logins: {logins}; password: {DEMO_PASSWORD}")
