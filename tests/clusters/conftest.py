"""Clusters to talk to: kubesim with a token, dead addresses, a TLS endpoint.

The simulated cluster itself (`kubesim`, `kubeconfig_text`) comes from
tests/plugins/infra.py. The other servers here are plain sockets on loopback
that stand for what a broken network does (refuse, stay silent, hang up) or
check one TLS behaviour; none of them pretends to be Kubernetes.
"""

import datetime
import http.server
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clusters import actions
from clusters.models import Cluster

SIM_TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="session")
def token_kubesim_server():
    """A kubesim that only answers requests carrying SIM_TOKEN."""
    from kubesim.sim import KubeSim

    sim = KubeSim(mode="instant", port=0, token=SIM_TOKEN)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def token_kubesim(token_kubesim_server):
    token_kubesim_server.reset()
    return token_kubesim_server


@pytest.fixture
def sim_cluster(owner, kubeconfig_text) -> Cluster:
    """The owner's cluster on the session's kubesim, registered and probed."""
    return actions.register_cluster(
        owner,
        name="sim",
        auth_method=Cluster.AuthMethod.KUBECONFIG,
        credentials={"kubeconfig": kubeconfig_text},
    )


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens, so connections are refused."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class CountingListener:
    """Accept connections and count them; answer nothing, or hang up at once."""

    def __init__(self, *, hang_up: bool):
        self.hang_up = hang_up
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def start(self) -> "CountingListener":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for held in self._held:
            held.close()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            if self.hang_up:
                connection.close()
            else:
                self._held.append(connection)


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers."""
    listener = CountingListener(hang_up=False).start()
    yield listener
    listener.stop()


@pytest.fixture
def hanging_up_server():
    """A server that closes every connection as soon as it is accepted."""
    listener = CountingListener(hang_up=True).start()
    yield listener
    listener.stop()


@dataclass
class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca_pem: str
    server_cert: Path
    server_key: Path
    client_cert_pem: str
    client_key_pem: str
    other_ca_pem: str


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, *, ca=False, san=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(san), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    """Certificates made for this session, valid for a day."""
    import ipaddress

    directory = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key, other_key = _key(), _key(), _key(), _key()
    ca = _certificate("test-ca", ca_key, "test-ca", ca_key, ca=True)
    other_ca = _certificate("other-ca", other_key, "other-ca", other_key, ca=True)
    server = _certificate(
        "127.0.0.1",
        server_key,
        "test-ca",
        ca_key,
        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_certificate = _certificate("kubeorch-test", client_key, "test-ca", ca_key)
    (directory / "server.pem").write_text(_pem(server))
    (directory / "server.key").write_text(_key_pem(server_key))
    return Pki(
        ca_pem=_pem(ca),
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert_pem=_pem(client_certificate),
        client_key_pem=_key_pem(client_key),
        other_ca_pem=_pem(other_ca),
    )


class _NotKubernetes(http.server.BaseHTTPRequestHandler):
    """Answer 404 to everything: it is a TLS endpoint, not an API server."""

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mtls_server(pki):
    """An https endpoint on 127.0.0.1 that demands a client certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(cadata=pki.ca_pem)
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKubernetes)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"https://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def kubeconfig_secrets(kubeconfig_text: str) -> list[str]:
    """The values of a kubeconfig that must never be shown: tokens, keys, CAs."""
    config = yaml.safe_load(kubeconfig_text)
    found = []
    for entry in config.get("users") or []:
        user = entry.get("user") or {}
        found += [user[k] for k in ("token", "client-key-data") if user.get(k)]
    for entry in config.get("clusters") or []:
        data = (entry.get("cluster") or {}).get("certificate-authority-data")
        if data:
            found.append(data)
    return found


def token_kubeconfig(server: str, token: str) -> str:
    """A kubeconfig for a server reached with a bearer token."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "main",
            "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": token}}],
        }
    )
