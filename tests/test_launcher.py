"""`manage.py up` run as a new user runs it: real children, ports and signals.

Each test starts the launcher as a subprocess on embedded defaults (its own
data dir, Valkey and kubesim; no DATABASE_URL or REDIS_URL from the test
run), waits for the banner, then checks what it printed really works.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from django.conf import settings
from kubernetes import client as kube_client
from kubernetes import config as kube_config

from kubeorch import embedded

BANNER_END = "Press Ctrl-C to stop."
# The first start migrates an empty database.
START_TIMEOUT = 180
STOP_TIMEOUT = 60
# What the test session set for itself (tests.plugins.infra) or was given:
# the launcher must start on embedded defaults.
LEAVE_OUT_OF_LAUNCHER = {
    "REDIS_URL",
    "CELERY_RESULT_BACKEND",
    "DATABASE_URL",
    "KUBEORCH_KUBECONFIG",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}
PROGRAMS = {
    "valkey": "valkey-server",
    "kubesim": "kubesim",
    "web": "daphne",
    "worker": " worker",
    "beat": " beat",
}


class Transcript:
    """A thread-safe sink for the launcher's output (a TextIO for spawn)."""

    def __init__(self) -> None:
        self._text = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._text += text

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        with self._lock:
            return self._text


@dataclass
class Launch:
    """A running `manage.py up` and what it printed."""

    child: embedded.Child
    transcript: Transcript
    port: int
    banner: dict[str, str] = field(default_factory=dict)

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.transcript.text:
            if not self.child.is_running():
                pytest.fail(f"launcher exited early:\n{self.transcript.text}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {needle!r} after {timeout} s:\n{self.transcript.text}")
            time.sleep(0.1)

    def wait_for_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            return self.child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launcher still running:\n{self.transcript.text}")

    def children_by_name(self) -> dict[str, int]:
        """Map each expected program to the pid of the process running it."""
        found = {}
        for pid in embedded.descendants(self.child.pid):
            command = _cmdline(pid)
            for name, marker in PROGRAMS.items():
                if marker in command and name not in found:
                    found[name] = pid
        return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _launcher_environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in LEAVE_OUT_OF_LAUNCHER
    }
    env.update(
        KUBEORCH_DATA_DIR=str(data_dir),
        KUBEORCH_PORT=str(port),
        KUBEORCH_WORKER_CONCURRENCY="2",
    )
    return env


def start_launcher(data_dir: Path, **variables: str) -> Launch:
    """Start `manage.py up` and wait for its banner."""
    port = embedded.free_port()
    transcript = Transcript()
    env = _launcher_environment(data_dir, port)
    env.update(variables)
    child = embedded.spawn(
        "up",
        [sys.executable, "manage.py", "up"],
        env=env,
        cwd=settings.BASE_DIR,
        echo=transcript,
    )
    launch = Launch(child=child, transcript=transcript, port=port)
    launch.wait_for(BANNER_END, START_TIMEOUT)
    launch.banner = parse_banner(transcript.text)
    return launch


def parse_banner(text: str) -> dict[str, str]:
    patterns = {
        "url": r"URL:\s+(\S+)",
        "password": r"Login:\s+admin / (\S+)",
        "token": r"API token:\s+(\S+)",
        "kubeconfig": r"Kubeconfig:\s+(\S+)",
        "redis": r"Redis:\s+(\S+)",
    }
    banner = {}
    for key, pattern in patterns.items():
        match = re.search(pattern, text)
        assert match, f"the banner has no {key}:\n{text}"
        banner[key] = match.group(1)
    return banner


@pytest.fixture
def launches():
    """Start launchers on demand; stop any still running at the end."""
    started: list[Launch] = []

    def start(data_dir: Path, **variables: str) -> Launch:
        launch = start_launcher(data_dir, **variables)
        started.append(launch)
        return launch

    yield start
    for launch in started:
        if launch.child.is_running():
            launch.child.process.send_signal(signal.SIGTERM)
            launch.wait_for_exit()
        embedded.stop_all([launch.child], timeout=5)


def port_of(url: str) -> int:
    return urllib.parse.urlsplit(url).port


def assert_all_gone(pids, ports) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(embedded.is_alive(pid) for pid in pids):
        alive = {pid: _cmdline(pid) for pid in pids if embedded.is_alive(pid)}
        assert time.monotonic() < deadline, f"still running: {alive}"
        time.sleep(0.2)
    for port in ports:
        assert embedded.port_is_free(port), f"port {port} is still taken"


def log_in_to_admin(url: str, password: str) -> str:
    """Log in through the admin's real form; return the page it lands on."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    login_url = url + "admin/login/?next=/admin/"
    form = opener.open(login_url, timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf,
            "username": "admin",
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(login_url, data=body, headers={"Referer": url})
    with opener.open(request, timeout=10) as response:
        return response.url


def api_get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_up_serves_what_it_prints_and_stops_cleanly_on_sigterm(tmp_path, launches):
    # Given a launcher started on a fresh data dir
    launch = launches(tmp_path / "data")
    banner = launch.banner
    children = launch.children_by_name()

    # Then every part it printed answers
    assert banner["url"] == f"http://127.0.0.1:{launch.port}/"
    assert set(children) == set(PROGRAMS), launch.transcript.text
    assert embedded.wait_for_http(banner["url"] + "admin/login/", timeout=10) == 200
    assert log_in_to_admin(banner["url"], banner["password"]).endswith("/admin/")
    assert api_get(banner["url"] + "v1/api/workflows", banner["token"]) == 200
    assert api_get(banner["url"] + "v1/api/workflows", "ko_wrong") == 401
    assert redis.Redis.from_url(banner["redis"]).ping() is True
    api = kube_config.new_client_from_config(config_file=banner["kubeconfig"])
    namespaces = kube_client.CoreV1Api(api).list_namespace().items
    assert "default" in {namespace.metadata.name for namespace in namespaces}
    assert (tmp_path / "data" / "admin-password").stat().st_mode & 0o777 == 0o600

    # When it gets SIGTERM
    pids = embedded.descendants(launch.child.pid)
    launch.child.process.send_signal(signal.SIGTERM)

    # Then it exits 0 and nothing it started is left, nor any port taken
    assert launch.wait_for_exit() == 0
    ports = [launch.port, port_of(banner["redis"])]
    assert_all_gone(pids, ports)


@pytest.mark.slow
def test_up_stops_everything_when_one_child_dies(tmp_path, launches):
    # Given a running launcher
    launch = launches(tmp_path / "data")
    children = launch.children_by_name()
    pids = embedded.descendants(launch.child.pid)

    # When one of its children is killed behind its back
    os.kill(children["kubesim"], signal.SIGKILL)

    # Then it names the child, stops the others and exits non-zero
    assert launch.wait_for_exit() == 1
    assert re.search(
        r"kubesim \(pid \d+\) exited with code -9 unexpectedly", launch.transcript.text
    ), launch.transcript.text
    assert_all_gone(pids, [launch.port, port_of(launch.banner["redis"])])


@pytest.mark.slow
def test_killed_launcher_leaves_no_orphans_and_restarts_with_the_same_login(
    tmp_path, launches
):
    # Given a running launcher
    data_dir = tmp_path / "data"
    first = launches(data_dir)
    pids = embedded.descendants(first.child.pid)
    assert len(first.children_by_name()) == len(PROGRAMS)

    # When it is killed with no chance to clean up
    os.kill(first.child.pid, signal.SIGKILL)
    first.wait_for_exit()

    # Then its children die with it and free their ports
    assert_all_gone(pids, [first.port, port_of(first.banner["redis"])])

    # And a new launcher on the same data dir prints the same login and token
    second = launches(data_dir)
    assert second.banner["password"] == first.banner["password"]
    assert second.banner["token"] == first.banner["token"]
    assert (
        api_get(second.banner["url"] + "v1/api/workflows", second.banner["token"])
        == 200
    )


@pytest.mark.slow
def test_up_runs_against_the_cluster_of_kubeorch_kubeconfig(
    tmp_path, launches, kubesim, kubeconfig_path
):
    # Given a cluster of the user's own (here an in-process kubesim)
    launch = launches(tmp_path / "data", KUBEORCH_KUBECONFIG=str(kubeconfig_path))

    # Then up starts no simulator and registers that cluster for admin
    assert "kubesim" not in launch.children_by_name()
    assert launch.banner["kubeconfig"] == str(kubeconfig_path)
    assert "(cluster 'KUBEORCH_KUBECONFIG')" in launch.transcript.text
    request = urllib.request.Request(
        launch.banner["url"] + "v1/api/clusters",
        headers={"Authorization": f"Bearer {launch.banner['token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        clusters = json.load(response)["results"]
    assert [(c["name"], c["server"], c["reachable"]) for c in clusters] == [
        ("KUBEORCH_KUBECONFIG", kubesim.url, True)
    ]


def run_briefly(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """Run `manage.py up` expecting it to give up at once."""
    env = _launcher_environment(tmp_path / "data", embedded.free_port())
    env.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", "up"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_malformed_port_fails_loudly(tmp_path):
    finished = run_briefly(tmp_path, KUBEORCH_PORT="eighty")

    assert finished.returncode != 0
    assert "KUBEORCH_PORT='eighty' is not a whole number" in finished.stderr


def test_a_taken_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        finished = run_briefly(tmp_path, KUBEORCH_PORT=str(port))

    assert finished.returncode == 1
    assert f"port {port} is taken; set KUBEORCH_PORT to another" in finished.stdout
    assert "valkey" not in finished.stdout


def test_a_missing_kubeconfig_is_refused(tmp_path):
    missing = tmp_path / "nowhere.yaml"

    finished = run_briefly(tmp_path, KUBEORCH_KUBECONFIG=str(missing))

    assert finished.returncode == 1
    assert f"KUBEORCH_KUBECONFIG={missing} is no file" in finished.stdout
    assert "valkey" not in finished.stdout
