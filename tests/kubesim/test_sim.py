"""The KubeSim facade, its control endpoints, the CLI and the token mode."""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from kubesim.sim import KubeSim

from .helpers import deployment_body

REPO = Path(__file__).resolve().parents[2]


def _request(url, method="GET", token=None):
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_refuses_a_non_loopback_host():
    with pytest.raises(ValueError):
        KubeSim(host="0.0.0.0")


def test_refuses_an_unknown_mode():
    with pytest.raises(ValueError):
        KubeSim(mode="sometimes")


def test_kubeconfig_names_everything_kubesim(sim, tmp_path):
    path = sim.write_kubeconfig(tmp_path / "config")

    document = yaml.safe_load(Path(path).read_text())
    assert document["current-context"] == "kubesim"
    assert document["clusters"][0]["cluster"]["server"] == sim.url
    assert document["users"][0]["name"] == "kubesim"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_control_endpoints(sim):
    status, body = _request(f"{sim.url}/_kubesim/healthz")
    assert (status, body) == (200, b"ok")

    before = sim.clock.time()
    status, body = _request(f"{sim.url}/_kubesim/advance?seconds=30", "POST")
    assert status == 200
    assert sim.clock.time() - before >= 30
    assert json.loads(body)["clockOffset"] >= 30

    assert _request(f"{sim.url}/_kubesim/settle", "POST")[0] == 200
    assert _request(f"{sim.url}/_kubesim/settle", "GET")[0] == 405


def test_reset_forgets_objects_and_bootstraps_again(tmp_path):
    with KubeSim() as private:
        private.write_kubeconfig(tmp_path / "kc")
        api = config.new_client_from_config(config_file=str(tmp_path / "kc"))
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata={"name": "scratch"}))

        assert _request(f"{private.url}/_kubesim/reset", "POST")[0] == 200

        names = {n.metadata.name for n in core.list_namespace().items}
        assert "scratch" not in names and "default" in names
        api.close()


def test_token_mode_requires_the_exact_token(tmp_path):
    with KubeSim(token="s3cret") as guarded:
        status, body = _request(f"{guarded.url}/api/v1/namespaces")
        assert status == 401
        assert json.loads(body)["reason"] == "Unauthorized"
        assert _request(f"{guarded.url}/api/v1/namespaces", token="wrong")[0] == 401
        assert _request(f"{guarded.url}/api/v1/namespaces", token="s3cret")[0] == 200

        guarded.write_kubeconfig(tmp_path / "kc")
        api = config.new_client_from_config(config_file=str(tmp_path / "kc"))
        assert client.CoreV1Api(api).list_namespace().items
        api.close()


def test_without_a_token_any_bearer_is_accepted(sim):
    assert _request(f"{sim.url}/api/v1/namespaces", token="anything")[0] == 200


def test_stop_ends_open_watches():
    private = KubeSim().start()
    url = f"{private.url}/api/v1/namespaces?watch=true"
    response = urllib.request.urlopen(url, timeout=10)
    response.readline()

    started = time.monotonic()
    private.stop()
    with contextlib.suppress(http.client.IncompleteRead, OSError):
        response.read()

    assert time.monotonic() - started < 5


def test_cli_serves_until_sigterm(tmp_path):
    kubeconfig = tmp_path / "kc.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubesim",
            "serve",
            "--port",
            "0",
            "--mode",
            "instant",
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("kubesim listening on http://127.0.0.1:")
        assert f"(kubeconfig {kubeconfig})" in line
        url = line.split()[3]
        assert _request(f"{url}/version")[0] == 200
        assert (
            yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
            == url
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()

    assert code == 0


def test_one_hundred_applies_take_well_under_a_second_of_server_time(
    sim, apps, namespace
):
    body = deployment_body("fast")
    before_requests, before_seconds = sim.api.stats.snapshot()

    started = time.perf_counter()
    for n in range(100):
        body["spec"]["replicas"] = 1 + n % 3
        apps.patch_namespaced_deployment(
            "fast",
            namespace,
            body,
            field_manager="kubeorch",
            force=True,
            _content_type="application/apply-patch+yaml",
        )
    wall = time.perf_counter() - started

    requests, seconds = sim.api.stats.snapshot()
    server_seconds = seconds - before_seconds
    print(f"100 applies: {server_seconds:.3f}s server time, {wall:.3f}s wall")
    # The last answer can reach the client a moment before it is counted.
    assert requests - before_requests >= 99
    assert server_seconds < 1.0
