"""Print a new API token for a user, creating the user if needed."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from kubeorch.models import ApiToken


def issue_token(username: str, name: str = "cli") -> str:
    """Return a new token for `username`, creating an unusable-password user."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    _, token = ApiToken.objects.issue(user, name=name)
    return token


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (the user is created if missing)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A label for the token.")

    def handle(self, *args, username: str, name: str, **options):
        self.stdout.write(issue_token(username, name))
