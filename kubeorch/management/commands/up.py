"""Run KubeOrch with everything it needs, in the foreground."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kubeorch import launcher


class Command(BaseCommand):
    help = (
        "Start Valkey and kubesim (when REDIS_URL / KUBEORCH_KUBECONFIG are "
        "not set), migrate, then run daphne, a Celery worker and beat; print "
        "the URL and a login; stop everything on Ctrl-C."
    )
    # Migrations are run by the command itself.
    requires_migrations_checks = False

    def add_arguments(self, parser):
        # Internal: the launcher runs the database step in a child process.
        parser.add_argument("--prepare", metavar="RESULT_FILE", help="(internal)")
        parser.add_argument("--kubeconfig", help="(internal, with --prepare)")
        parser.add_argument("--simulated", action="store_true", help="(internal)")

    def handle(self, *args, prepare=None, kubeconfig=None, simulated=False, **_):
        if prepare:
            self._prepare(Path(prepare), kubeconfig, simulated)
            return
        options = launcher.Options.from_environment(
            settings.BASE_DIR, settings.DATA_DIR
        )
        code = launcher.Launcher(options, out=sys.stdout).run()
        if code:
            raise SystemExit(code)

    def _prepare(self, result_path: Path, kubeconfig: str | None, simulated: bool):
        if not kubeconfig:
            raise CommandError("--prepare needs --kubeconfig")
        result = launcher.prepare(settings.DATA_DIR, Path(kubeconfig), simulated)
        launcher.write_prepare_result(result_path, result)
