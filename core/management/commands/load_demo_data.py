from django.core.management.base import BaseCommand

from core.demo import DEMO_PASSWORD, USERS, demo_data_load


class Command(BaseCommand):
    help = "Load the demo data (customers, items 0013-0015 and 88000-88002, users per role)."

    def handle(self, *args, **options):
        created = demo_data_load()
        if created:
            self.stdout.write(f"Created users: {', '.join(created)}.")
        else:
            self.stdout.write("Demo data already loaded; nothing changed.")
        logins = ", ".join(f"{username} ({role})" for username, _f, _l, role, *_ in USERS)
        self.stdout.write(f"Demo logins: {logins}; password: {DEMO_PASSWORD}")
