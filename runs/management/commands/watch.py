"""`manage.py watch`: keep the live health of every deployed node, in the foreground.

Runs one watcher replica until SIGTERM or SIGINT, then releases its cluster
leases and exits 0. Several replicas may run at once: each cluster is
watched by the one holding its lease.
"""

import logging
import signal
import threading

from django.core.management.base import BaseCommand

from runs.watcher import Watcher, WatchOptions

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Watch the clusters of every workflow and stream node health."

    def add_arguments(self, parser):
        parser.add_argument(
            "--replica-id", default=None, help="Name of this replica in the leases."
        )
        parser.add_argument(
            "--refresh",
            type=float,
            default=1.0,
            help="Seconds between reads of the database.",
        )
        parser.add_argument(
            "--resync", type=float, default=600.0, help="Seconds between full re-lists."
        )
        parser.add_argument(
            "--lease-ttl",
            type=float,
            default=15.0,
            help="Seconds a cluster lease lasts.",
        )

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        watcher = Watcher(
            replica_id=options["replica_id"],
            refresh_interval=options["refresh"],
            lease_ttl=options["lease_ttl"],
            options=WatchOptions(resync_interval=options["resync"]),
        )
        self.stdout.write(f"watcher {watcher.replica_id} starting", ending="\n")
        self.stdout.flush()
        watcher.run_forever(stop)
        self.stdout.write(f"watcher {watcher.replica_id} stopped")
