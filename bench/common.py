"""Pieces the benchmarks share: kubesim in its own process, a quiet observer."""

import subprocess
import sys
import urllib.request
from pathlib import Path

from kubeorch.embedded import free_port


class Simulator:
    """kubesim in its own process, so it does not share the client's interpreter."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.kubeconfig = workdir / "kubeconfig"
        argv = [
            sys.executable, "-m", "kubesim", "serve", "--mode", "instant",
            "--port", str(self.port), "--kubeconfig", str(self.kubeconfig),
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.process.stdout.readline()

    def reset(self) -> None:
        """Empty the cluster, back to its bootstrap objects."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_kubesim/reset", method="POST"
        )
        urllib.request.urlopen(request, timeout=30).read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class QuietObserver:
    """A deploy observer that says nothing, and stops the bench on a failure."""

    def node_state(self, node_id, state, message="", health=None) -> None:
        if state == "failed":
            raise RuntimeError(f"{node_id} failed: {message}")

    def log(self, level, message) -> None:
        pass

    def should_stop(self) -> bool:
        return False
