"""python manage.py issue_api_token <username> [--reset]: print the user's API token
(created if missing). --reset replaces it; the old key stops working at once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from core.actors import Actor
from core.services import api_token_issue


class Command(BaseCommand):
    help = "Print a user's REST API token, creating it if needed (--reset: a new one)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--reset", action="store_true", help="Replace the token; the old key stops working."
        )

    def handle(self, *args, username, reset, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            self.stderr.write(f"No user named {username!r}.")
            raise SystemExit(2)
        if not user.is_active:
            self.stderr.write(f"User {username!r} is inactive: a token would not work.")
            raise SystemExit(2)
        token = api_token_issue(user=user, actor=Actor.job("command"), reset=reset)
        self.stdout.write(token.key)
