"""The embedded-process helpers: real Valkey, real child processes."""

import io
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from kubeorch import embedded


def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while embedded.is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for_text(terminal: io.StringIO, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in terminal.getvalue():
        assert time.monotonic() < deadline, f"{text!r} never appeared"
        time.sleep(0.05)


def python_child(name: str, code: str, **kwargs) -> embedded.Child:
    return embedded.spawn(name, [sys.executable, "-c", textwrap.dedent(code)], **kwargs)


def test_free_port_can_be_bound():
    port = embedded.free_port()

    assert embedded.port_is_free(port)


def test_valkey_answers_ping_and_stops(tmp_path):
    child, url = embedded.start_valkey(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        assert redis.Redis.from_url(url).ping() is True
        assert not embedded.port_is_free(port)
    finally:
        embedded.stop_all([child], timeout=5)

    assert child.process.returncode == 0
    assert embedded.port_is_free(port)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_valkey_dies_with_its_parent(tmp_path, signum):
    # Given a parent process that started Valkey and then just waits
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from kubeorch.embedded import start_valkey\n"
            "child, url = start_valkey(sys.argv[1])\n"
            "print(child.pid, url, flush=True)\n"
            "time.sleep(120)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        valkey_pid, url = parent.stdout.readline().split()
        assert redis.Redis.from_url(url).ping() is True

        # When the parent is killed without a chance to clean up
        parent.send_signal(signum)
        parent.wait(timeout=10)

        # Then the kernel takes Valkey down with it and frees its port
        assert wait_until_gone(int(valkey_pid)), "valkey outlived its parent"
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert embedded.port_is_free(port)
    finally:
        parent.kill()
        parent.wait()


def test_spawn_prefixes_output_and_keeps_a_log(tmp_path):
    terminal = io.StringIO()
    log_path = tmp_path / "talker.log"

    child = python_child(
        "talker",
        """
        import sys
        print("hello")
        print("oops", file=sys.stderr)
        """,
        log_path=log_path,
        echo=terminal,
    )
    child.process.wait(timeout=10)
    embedded.stop_all([child])

    assert "  talker | hello" in terminal.getvalue()
    assert "  talker | oops" in terminal.getvalue()
    assert log_path.read_text().splitlines() == ["hello", "oops"]


def test_stop_all_kills_a_child_that_ignores_sigterm():
    terminal = io.StringIO()
    child = python_child(
        "stubborn",
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
        """,
        echo=terminal,
    )
    wait_for_text(terminal, "ready")

    started = time.monotonic()
    embedded.stop_all([child], timeout=1)

    assert child.process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_stop_all_leaves_no_grandchild_behind():
    # Given a child whose own child sits in a session of its own, out of
    # reach of any process-group signal
    child = python_child(
        "parent",
        """
        import subprocess, sys, time
        grandchild = subprocess.Popen(
            ["sleep", "60"], start_new_session=True
        )
        print(grandchild.pid, flush=True)
        time.sleep(60)
        """,
    )
    deadline = time.monotonic() + 10
    while not embedded.descendants(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    (grandchild_pid,) = embedded.descendants(child.pid)

    # When the child is stopped
    embedded.stop_all([child], timeout=5)

    # Then its descendant is gone too
    assert wait_until_gone(grandchild_pid)


def test_wait_for_http_returns_the_status_of_a_real_server(tmp_path):
    port = embedded.free_port()
    (tmp_path / "index.html").write_text("hi")
    server = embedded.spawn(
        "http",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        assert embedded.wait_for_http(base, timeout=10, process=server.process) == 200
        assert embedded.wait_for_http(base + "missing", timeout=5) == 404
    finally:
        embedded.stop_all([server])


def test_waiting_fails_fast_when_the_server_process_exits():
    port = embedded.free_port()
    doomed = python_child("doomed", "raise SystemExit(3)")

    with pytest.raises(RuntimeError, match="exited with code 3"):
        embedded.wait_for_port(port, timeout=10, process=doomed.process)
