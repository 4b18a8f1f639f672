"""Building clients and probing clusters over real sockets."""

import base64
import stat
import time
from pathlib import Path

import pytest
import urllib3
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from clusters import connection
from clusters.connection import CredentialsError, Endpoint
from kubesim import SERVER_VERSION
from kubesim.resources import NODE

from .conftest import SIM_TOKEN, token_kubeconfig


def _kubeconfig(**user) -> str:
    config = yaml.safe_load(token_kubeconfig("https://127.0.0.1:6443", "t"))
    config["users"][0]["user"] = user
    return yaml.safe_dump(config)


# Kubeconfig parsing -----------------------------------------------------------


def test_kubeconfig_current_context_gives_server_and_token():
    endpoint = connection.endpoint_from_kubeconfig(
        token_kubeconfig("http://127.0.0.1:1234/", "abc")
    )

    assert endpoint.server == "http://127.0.0.1:1234"
    assert endpoint.token == "abc"
    assert "abc" not in repr(endpoint)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [a\n  b: {", "not valid YAML (line"),
        ("- just\n- a list\n", "not a YAML mapping"),
        ("apiVersion: v1\nkind: Config\nclusters: []\n", "no current-context"),
        (
            "current-context: gone\ncontexts: []\n",
            "no context named 'gone' in contexts",
        ),
    ],
)
def test_broken_kubeconfig_is_refused_naming_the_cause(text, message):
    with pytest.raises(CredentialsError) as refused:
        connection.endpoint_from_kubeconfig(text)

    assert refused.value.field == "kubeconfig"
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ({"exec": {"command": "/bin/sh", "args": ["-c", "id"]}}, "exec plugins"),
        ({"tokenFile": "/etc/shadow"}, "tokenFile names a file on this server"),
        ({"client-certificate": "/root/c.pem"}, "client-certificate names a file"),
        ({"auth-provider": {"name": "gcp"}}, "auth-provider plugins"),
    ],
)
def test_kubeconfig_that_would_run_or_read_things_here_is_refused(user, message):
    with pytest.raises(CredentialsError) as refused:
        connection.endpoint_from_kubeconfig(_kubeconfig(**user))

    assert message in refused.value.message


def test_kubeconfig_ca_given_as_a_file_path_is_refused():
    config = yaml.safe_load(token_kubeconfig("https://127.0.0.1:6443", "t"))
    config["clusters"][0]["cluster"]["certificate-authority"] = "/etc/ssl/ca.pem"

    with pytest.raises(CredentialsError, match="certificate-authority names a file"):
        connection.endpoint_from_kubeconfig(yaml.safe_dump(config))


def test_token_credentials_need_a_server_url():
    with pytest.raises(CredentialsError) as refused:
        connection.clean_credentials("token", {"server": "ftp://x", "token": "t"})

    assert refused.value.field == "server"


def test_missing_token_is_named():
    with pytest.raises(CredentialsError) as refused:
        connection.clean_credentials("token", {"server": "https://127.0.0.1:1"})

    assert (refused.value.field, refused.value.message) == (
        "token",
        "this field is required",
    )


def test_ca_data_is_accepted_as_pem_or_base64_of_pem(pki):
    as_base64 = base64.b64encode(pki.ca_pem.encode()).decode()

    for given in (pki.ca_pem, as_base64):
        cleaned = connection.clean_credentials(
            "token", {"server": "https://127.0.0.1:1", "token": "t", "ca_data": given}
        )
        endpoint = connection.endpoint_for("token", cleaned)
        assert endpoint.ca_pem.startswith("-----BEGIN CERTIFICATE-----")


def test_garbage_ca_data_is_refused():
    with pytest.raises(CredentialsError) as refused:
        connection.clean_credentials(
            "token", {"server": "https://127.0.0.1:1", "token": "t", "ca_data": "zz"}
        )

    assert refused.value.field == "ca_data"


def test_unknown_credential_field_is_refused():
    with pytest.raises(CredentialsError) as refused:
        connection.clean_credentials("kubeconfig", {"kubeconfig": "x", "token": "t"})

    assert refused.value.field == "token"


# Probes against kubesim --------------------------------------------------------


def test_probe_of_kubesim_reads_version_nodes_and_namespaces(kubesim, kubeconfig_text):
    endpoint = connection.endpoint_from_kubeconfig(kubeconfig_text)

    probe = connection.probe_endpoint(endpoint, timeout=5)

    assert probe.ok, probe.error
    assert probe.version == SERVER_VERSION["gitVersion"]
    assert probe.node_count == kubesim.store.count(NODE)
    assert {"default", "kube-system"} <= set(probe.namespaces)


def test_probe_with_the_right_token_passes(token_kubesim):
    endpoint = Endpoint(server=token_kubesim.url, token=SIM_TOKEN)

    probe = connection.probe_endpoint(endpoint, timeout=5)

    assert probe.ok, probe.error


def test_probe_with_a_wrong_token_says_the_credentials_were_refused(token_kubesim):
    endpoint = Endpoint(server=token_kubesim.url, token="wrong")

    probe = connection.probe_endpoint(endpoint, timeout=5)

    assert not probe.reachable
    assert probe.error == "the server refused the credentials (401)"
    assert probe.error_kind == "credentials"


def test_connect_closes_the_connections_afterwards(kubesim, kubeconfig_text, owner):
    from clusters.models import Cluster

    cluster = Cluster(auth_method="kubeconfig", owner=owner)
    cluster.set_credentials({"kubeconfig": kubeconfig_text})

    with connection.connect(cluster, timeout=5) as api_client:
        client.VersionApi(api_client).get_code()
        pools = api_client.rest_client.pool_manager.pools
        assert len(pools) == 1

    assert len(pools) == 0


def test_a_watch_outlives_the_default_timeout_up_to_its_own(kubesim, kubeconfig_text):
    endpoint = connection.endpoint_from_kubeconfig(kubeconfig_text)
    started = time.monotonic()

    with connection.client_for_endpoint(endpoint, timeout=0.5) as api_client:
        events = list(
            watch.Watch().stream(
                client.CoreV1Api(api_client).list_namespace, timeout_seconds=2
            )
        )

    assert 1.5 < time.monotonic() - started < 5
    assert {e["object"].metadata.name for e in events} >= {"default"}


# Dead and misbehaving servers ------------------------------------------------


def test_probe_of_a_closed_port_fails_at_once(closed_port_url):
    started = time.monotonic()

    probe = connection.probe_endpoint(Endpoint(server=closed_port_url), timeout=5)

    assert time.monotonic() - started < 2
    assert probe.error == f"{closed_port_url} refused the connection"
    assert probe.error_kind == "unreachable"


def test_probe_of_a_silent_server_gives_up_after_the_timeout(silent_server):
    started = time.monotonic()

    probe = connection.probe_endpoint(Endpoint(server=silent_server.url), timeout=1)

    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3
    assert probe.error == f"{silent_server.url} did not answer within 1 s"


def test_a_failed_request_is_not_retried(hanging_up_server):
    probe = connection.probe_endpoint(Endpoint(server=hanging_up_server.url), timeout=2)

    assert not probe.reachable
    assert "closed the connection" in probe.error
    assert hanging_up_server.accepted == 1


def test_default_timeout_bounds_requests_made_without_one(silent_server):
    api_client = connection.client_for_endpoint(
        Endpoint(server=silent_server.url), timeout=1
    )
    started = time.monotonic()

    with api_client, pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.CoreV1Api(api_client).list_namespace()

    assert time.monotonic() - started < 3


# TLS --------------------------------------------------------------------------


def test_client_certificate_is_presented_to_a_server_that_demands_one(mtls_server, pki):
    with_certificate = Endpoint(
        server=mtls_server.url,
        ca_pem=pki.ca_pem,
        cert_pem=pki.client_cert_pem,
        key_pem=pki.client_key_pem,
    )
    without = Endpoint(server=mtls_server.url, ca_pem=pki.ca_pem)

    accepted = connection.probe_endpoint(with_certificate, timeout=5)
    refused = connection.probe_endpoint(without, timeout=5)

    # The endpoint is no API server: getting its 404 proves the TLS handshake,
    # client certificate included, went through.
    assert "404 on /version" in accepted.error
    assert "404" not in refused.error


def test_server_signed_by_another_ca_is_refused(mtls_server, pki):
    endpoint = Endpoint(
        server=mtls_server.url,
        ca_pem=pki.other_ca_pem,
        cert_pem=pki.client_cert_pem,
        key_pem=pki.client_key_pem,
    )

    probe = connection.probe_endpoint(endpoint, timeout=5)

    assert probe.error.startswith(f"TLS with {mtls_server.url} failed: ")
    assert "certificate verify failed" in probe.error


def test_mismatched_client_certificate_and_key_are_refused(pki):
    with pytest.raises(CredentialsError) as refused:
        connection.clean_credentials(
            "client_certificate",
            {
                "server": "https://127.0.0.1:1",
                "client_certificate_data": pki.client_cert_pem,
                "client_key_data": _other_key_pem(),
            },
        )

    assert refused.value.field == "client_key_data"


def _other_key_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def test_certificate_files_are_private_and_removed_with_the_client(mtls_server, pki):
    endpoint = Endpoint(
        server=mtls_server.url,
        ca_pem=pki.ca_pem,
        cert_pem=pki.client_cert_pem,
        key_pem=pki.client_key_pem,
    )

    with connection.client_for_endpoint(endpoint, timeout=5) as api_client:
        key_file = Path(api_client.configuration.key_file)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
        with pytest.raises(ApiException) as answered:
            client.VersionApi(api_client).get_code()

    assert answered.value.status == 404
    assert not key_file.parent.exists()
