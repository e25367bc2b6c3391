from django.core.management.base import BaseCommand
from django.db import transaction

from core.roles import roles_ensure


class Command(BaseCommand):
    help = (
        "Create the Agent, Supervisor, Administrator and Warehouse groups with their permissions, "
        "or add the permissions they miss. Safe to run after every migrate."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            groups = roles_ensure()
        self.stdout.write(
            "Roles ready: "
            + ", ".join(
                f"{name} ({group.permissions.count()} permissions)"
                for name, group in groups.items()
            )
        )
