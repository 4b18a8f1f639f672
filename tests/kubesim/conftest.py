"""Fixtures for the kubesim protocol suite.

By default every test talks to one in-process KubeSim (instant mode) over
real HTTP through the official client. When KUBEORCH_CONFORMANCE_KUBECONFIG
names a kubeconfig, the same checks run against that cluster instead, and
only the tests that need kubesim's control endpoints are skipped.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

from kubesim.sim import KubeSim

CONFORMANCE_ENV = "KUBEORCH_CONFORMANCE_KUBECONFIG"


@dataclass
class Cluster:
    """Where the suite runs: a kubeconfig, and the KubeSim when it is ours."""

    kubeconfig: str
    sim: KubeSim | None


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    real = os.environ.get(CONFORMANCE_ENV)
    if real:
        yield Cluster(kubeconfig=real, sim=None)
        return
    sim = KubeSim(mode="instant").start()
    path = tmp_path_factory.mktemp("kubesim") / "kubeconfig.yaml"
    sim.write_kubeconfig(str(path))
    yield Cluster(kubeconfig=str(path), sim=sim)
    sim.stop()


@pytest.fixture
def sim(cluster) -> KubeSim:
    """The in-process KubeSim; tests that need it are skipped on a real cluster."""
    if cluster.sim is None:
        pytest.skip("needs kubesim's own control surface (conformance run)")
    return cluster.sim


@pytest.fixture(scope="session")
def api_client(cluster):
    api = config.new_client_from_config(config_file=cluster.kubeconfig)
    yield api
    api.close()


@pytest.fixture(scope="session")
def core(api_client) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def batch(api_client) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def extensions(api_client) -> client.ApiextensionsV1Api:
    return client.ApiextensionsV1Api(api_client)


@pytest.fixture
def dyn(api_client) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client)


@pytest.fixture
def namespace(core):
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


@dataclass
class RawResponse:
    """A response read without the client's models."""

    status: int
    body: object
    headers: dict

    @property
    def causes(self) -> list[dict]:
        """Return details.causes of a Status body."""
        return ((self.body or {}).get("details") or {}).get("causes") or []

    @property
    def fields(self) -> set[str]:
        """Return the field paths named by the causes."""
        return {c.get("field") for c in self.causes}


class Raw:
    """Sends raw dicts through the official client's REST layer (no models)."""

    def __init__(self, api_client) -> None:
        self.api_client = api_client

    def __call__(
        self,
        method: str,
        path: str,
        body=None,
        *,
        query: dict | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> RawResponse:
        """Send one request and return its status and decoded body."""
        url = self.api_client.configuration.host + path
        if query:
            url += "?" + urlencode(query)
        headers = {"Content-Type": content_type, "Accept": accept}
        self.api_client.update_params_for_auth(
            headers, [], ["BearerToken"], path, method, body
        )
        response = self.api_client.call_api(method, url, headers, body)
        response.read()
        data = response.data
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = data.decode()
        return RawResponse(response.status, decoded, dict(response.getheaders()))


@pytest.fixture(scope="session")
def raw(api_client) -> Raw:
    return Raw(api_client)
