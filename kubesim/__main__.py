"""Command line: python -m kubesim serve [--port N] [--mode realistic|instant] ..."""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import tempfile
import threading

from .sim import MODES, KubeSim

logger = logging.getLogger("kubesim")

_PR_SET_PDEATHSIG = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kubesim")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a simulated cluster until stopped")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    serve.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    serve.add_argument("--mode", choices=MODES, default="realistic")
    serve.add_argument("--kubeconfig", help="where to write the kubeconfig")
    serve.add_argument("--token", help="require this bearer token")
    serve.add_argument("--watch-history", type=int, default=10000)
    serve.add_argument(
        "--keep-with-parent-death",
        action="store_true",
        help="keep running when the parent process dies",
    )
    serve.add_argument("--log-level", default="WARNING")
    return parser


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the parent goes (no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        logger.debug("prctl is not available; relying on the parent check")


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    parent = os.getppid()
    if not args.keep_with_parent_death:
        _die_with_parent()
    sim = KubeSim(
        host=args.host,
        port=args.port,
        mode=args.mode,
        token=args.token,
        watch_history=args.watch_history,
    ).start()
    path = args.kubeconfig or os.path.join(
        tempfile.gettempdir(), f"kubesim-{sim.port}.yaml"
    )
    sim.write_kubeconfig(path)
    print(f"kubesim listening on {sim.url} (kubeconfig {path})", flush=True)
    try:
        while not stop.wait(1.0):
            if not args.keep_with_parent_death and os.getppid() != parent:
                logger.warning("parent process %s went away; stopping", parent)
                break
    finally:
        sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
