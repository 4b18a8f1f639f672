"""Re-seal every stored secret with the first key of KUBEORCH_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand

from clusters.actions import rotate_credentials_keys
from workflows.actions import reseal_secret_values


class Command(BaseCommand):
    help = (
        "Re-seal cluster credentials and workflow secret values with the current "
        "primary key. Put the new key first in KUBEORCH_ENCRYPTION_KEYS, run "
        "this, then drop the old key."
    )

    def handle(self, *args, **options) -> None:
        clusters = rotate_credentials_keys()
        self.stdout.write(f"Re-sealed the credentials of {clusters} cluster(s).")
        workflows = reseal_secret_values()
        self.stdout.write(f"Re-sealed the secret values of {workflows} workflow(s).")
        self.stdout.write(
            self.style.SUCCESS("Done: keys after the first one may now be dropped.")
        )
