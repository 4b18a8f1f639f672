"""Connections to a cluster: credentials checked, a bounded client, a probe.

Every auth method is reduced to one `Endpoint` (server, CA, token or client
certificate), from which a `kubernetes.client.ApiClient` is built directly in
memory. A kubeconfig is parsed here rather than by the client's own loader
because that loader writes certificates and keys to temp files it keeps until
exit, and would run `exec` plugins or read files named by the uploader on this
server.
"""

import base64
import binascii
import contextlib
import logging
import os
import re
import shutil
import ssl
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
import yaml
from django.conf import settings
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeorch.crypto import SealError

logger = logging.getLogger(__name__)

# The auth methods' values (see Cluster.AuthMethod), kept as plain strings so
# this module does not need the model.
KUBECONFIG = "kubeconfig"
TOKEN = "token"
CLIENT_CERTIFICATE = "client_certificate"
SERVICE_ACCOUNT = "service_account"

CREDENTIAL_FIELDS = {
    KUBECONFIG: ("kubeconfig",),
    TOKEN: (
        "server",
        "token",
        "ca_data",
        "insecure_skip_tls_verify",
        "tls_server_name",
    ),
    SERVICE_ACCOUNT: (
        "server",
        "token",
        "ca_data",
        "insecure_skip_tls_verify",
        "tls_server_name",
    ),
    CLIENT_CERTIFICATE: (
        "server",
        "client_certificate_data",
        "client_key_data",
        "ca_data",
        "insecure_skip_tls_verify",
        "tls_server_name",
    ),
}
REQUIRED_FIELDS = {
    KUBECONFIG: ("kubeconfig",),
    TOKEN: ("server", "token"),
    SERVICE_ACCOUNT: ("server", "token"),
    CLIENT_CERTIFICATE: ("server", "client_certificate_data", "client_key_data"),
}
BOOLEAN_FIELDS = ("insecure_skip_tls_verify",)

# User entries of a kubeconfig that would make this server run a command or
# read one of its own files on behalf of whoever uploaded the kubeconfig.
REFUSED_USER_KEYS = {
    "exec": "exec plugins are not run on the server; use a token or a client "
    "certificate",
    "auth-provider": "auth-provider plugins are not supported; use a token or a "
    "client certificate",
    "tokenFile": "tokenFile names a file on this server; embed the token instead",
    "client-certificate": "client-certificate names a file on this server; use "
    "client-certificate-data",
    "client-key": "client-key names a file on this server; use client-key-data",
    "username": "basic authentication is not supported; use a token or a client "
    "certificate",
}
REFUSED_CLUSTER_KEYS = {
    "certificate-authority": "certificate-authority names a file on this server; "
    "use certificate-authority-data",
    # TODO(cluster-proxy): clusters reachable only through a proxy are not
    # supported yet; urllib3 would need per-cluster proxy managers.
    "proxy-url": "proxy-url is not supported",
}


class CredentialsError(ValueError):
    """Credentials that cannot be used, with the input field to blame."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    """Where a cluster answers and how to prove who we are, in memory."""

    server: str
    token: str = field(default="", repr=False)
    ca_pem: str = field(default="", repr=False)
    cert_pem: str = field(default="", repr=False)
    key_pem: str = field(default="", repr=False)
    insecure_skip_tls_verify: bool = False
    tls_server_name: str = ""


@dataclass
class ClusterProbe:
    """What a quick look at a cluster found."""

    reachable: bool
    version: str = ""
    node_count: int | None = None
    namespaces: list[str] = field(default_factory=list)
    error: str = ""
    # "unreachable", "credentials" or "" when the probe passed.
    error_kind: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and not self.error


# Credentials: shape and parsing ------------------------------------------


def clean_credentials(auth_method: str, credentials: dict) -> dict:
    """Return the credentials of one method in their stored shape, or raise."""
    if auth_method not in CREDENTIAL_FIELDS:
        raise CredentialsError("auth_method", f"unknown auth method {auth_method!r}")
    allowed = CREDENTIAL_FIELDS[auth_method]
    unknown = sorted(set(credentials) - set(allowed))
    if unknown:
        raise CredentialsError(
            unknown[0], f"not a field of the {auth_method} auth method"
        )
    cleaned = {name: _clean_value(name, credentials.get(name)) for name in allowed}
    for name in REQUIRED_FIELDS[auth_method]:
        if not cleaned[name]:
            raise CredentialsError(name, "this field is required")
    endpoint = endpoint_for(auth_method, cleaned)
    check_tls_material(endpoint, field_names=_tls_fields(auth_method))
    return cleaned


def _tls_fields(auth_method: str) -> dict[str, str]:
    if auth_method == KUBECONFIG:
        return {"ca": "kubeconfig", "key": "kubeconfig"}
    return {"ca": "ca_data", "key": "client_key_data"}


def _clean_value(name: str, value) -> str | bool:
    if name in BOOLEAN_FIELDS:
        return bool(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CredentialsError(name, "must be a string")
    return value if name == "kubeconfig" else value.strip()


def endpoint_for(auth_method: str, credentials: dict) -> Endpoint:
    """Turn stored credentials of any auth method into an Endpoint."""
    if auth_method == KUBECONFIG:
        return endpoint_from_kubeconfig(credentials.get("kubeconfig", ""))
    return Endpoint(
        server=_check_server("server", credentials.get("server", "")),
        token=credentials.get("token", ""),
        ca_pem=_pem("ca_data", credentials.get("ca_data", ""), "CERTIFICATE"),
        cert_pem=_pem(
            "client_certificate_data",
            credentials.get("client_certificate_data", ""),
            "CERTIFICATE",
        ),
        key_pem=_pem(
            "client_key_data", credentials.get("client_key_data", ""), "PRIVATE KEY"
        ),
        insecure_skip_tls_verify=bool(credentials.get("insecure_skip_tls_verify")),
        tls_server_name=credentials.get("tls_server_name", ""),
    )


def endpoint_from_kubeconfig(text: str) -> Endpoint:
    """Read the current context of a kubeconfig into an Endpoint."""
    config = _load_kubeconfig_yaml(text)
    context_name = config.get("current-context")
    if not context_name:
        raise CredentialsError("kubeconfig", "the kubeconfig has no current-context")
    context = _named_entry(config, "contexts", "context", context_name)
    cluster = _named_entry(config, "clusters", "cluster", context.get("cluster"))
    user = _kubeconfig_user(config, context.get("user"))
    _refuse_keys(cluster, REFUSED_CLUSTER_KEYS, f"cluster {context.get('cluster')!r}")
    _refuse_keys(user, REFUSED_USER_KEYS, f"user {context.get('user')!r}")
    try:
        return Endpoint(
            server=_check_server("kubeconfig", cluster.get("server", "")),
            token=str(user.get("token") or ""),
            ca_pem=_pem(
                "kubeconfig",
                cluster.get("certificate-authority-data", ""),
                "CERTIFICATE",
                base64_only=True,
            ),
            cert_pem=_pem(
                "kubeconfig",
                user.get("client-certificate-data", ""),
                "CERTIFICATE",
                base64_only=True,
            ),
            key_pem=_pem(
                "kubeconfig",
                user.get("client-key-data", ""),
                "PRIVATE KEY",
                base64_only=True,
            ),
            insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
            tls_server_name=str(cluster.get("tls-server-name") or ""),
        )
    except CredentialsError as exc:
        raise CredentialsError("kubeconfig", f"in the kubeconfig: {exc}") from exc


def _load_kubeconfig_yaml(text: str) -> dict:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise CredentialsError(
            "kubeconfig", f"the kubeconfig is not valid YAML{at}"
        ) from exc
    if not isinstance(config, dict):
        raise CredentialsError(
            "kubeconfig",
            "the kubeconfig is not a YAML mapping of clusters, contexts and users",
        )
    return config


def _named_entry(config: dict, section: str, key: str, name) -> dict:
    """Find `{"name": name, key: {...}}` in a kubeconfig section."""
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(key)
            if isinstance(body, dict):
                return body
    raise CredentialsError(
        "kubeconfig", f"the kubeconfig has no {key} named {name!r} in {section}"
    )


def _kubeconfig_user(config: dict, name) -> dict:
    if not name:
        return {}
    return _named_entry(config, "users", "user", name)


def _refuse_keys(entry: dict, refused: dict, where: str) -> None:
    for key, reason in refused.items():
        if entry.get(key):
            raise CredentialsError("kubeconfig", f"{where}: {reason}")


def _check_server(field_name: str, server: str) -> str:
    parts = urlsplit(str(server).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CredentialsError(
            field_name, f"the server must be an http(s) URL, not {server!r}"
        )
    return str(server).strip().rstrip("/")


def _pem(field_name: str, value: str, label: str, *, base64_only=False) -> str:
    """Accept PEM text, or base64 of PEM text as kubeconfigs carry it."""
    if not value:
        return ""
    text = str(value).strip()
    if "-----BEGIN" not in text or base64_only:
        try:
            text = base64.b64decode(text, validate=False).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise CredentialsError(
                field_name, f"{field_name} is neither PEM nor base64 of PEM"
            ) from exc
    if "-----BEGIN" not in text or label not in text:
        raise CredentialsError(field_name, f"{field_name} holds no PEM {label.lower()}")
    return text


# Clients --------------------------------------------------------------------


class ClusterApiClient(client.ApiClient):
    """An ApiClient whose requests are bounded in time unless they say otherwise.

    A watch is bounded by its own `timeout_seconds` plus the default instead,
    and a followed log only by the connect timeout: callers of long streams
    should pass `_request_timeout` themselves. Closing it also removes the
    private files holding its certificates.
    """

    def __init__(self, configuration, *, timeout: float, tls_files=None):
        super().__init__(configuration)
        self.default_timeout = timeout
        self._tls_files = tls_files

    def call_api(self, method, url, *args, _request_timeout=None, **kwargs):
        if _request_timeout is None:
            _request_timeout = self._timeout_for(url)
        return super().call_api(
            method, url, *args, _request_timeout=_request_timeout, **kwargs
        )

    def close(self) -> None:
        super().close()
        if self._tls_files is not None:
            self._tls_files.remove()

    def _timeout_for(self, url: str) -> tuple[float, float | None]:
        """Pick (connect, read) seconds; the REST layer takes only these."""
        query = urlsplit(url).query
        if "watch=true" in query:
            seconds = _query_number(query, "timeoutSeconds")
            read = seconds + self.default_timeout if seconds else None
            return (self.default_timeout, read)
        if "follow=true" in query:
            return (self.default_timeout, None)
        return (self.default_timeout, self.default_timeout)


def _query_number(query: str, name: str) -> float:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name and value.isdigit():
            return float(value)
    return 0.0


class PrivateFiles:
    """Files in a directory only this user can enter, removed when done.

    urllib3 reads the CA, client certificate and key from files on every new
    connection, and the websocket client used for exec takes nothing else, so
    they live on disk for as long as the client that uses them.
    """

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="kubeorch-tls-")
        # Removed even if the client is never closed, at the latest at exit.
        self._finalizer = weakref.finalize(
            self, shutil.rmtree, self.directory, ignore_errors=True
        )

    def write(self, name: str, content: str) -> str:
        path = os.path.join(self.directory, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        return path

    def remove(self) -> None:
        self._finalizer()


def client_for_endpoint(endpoint: Endpoint, *, timeout: float) -> ClusterApiClient:
    """Build a client for an endpoint, with retries off and bounded requests."""
    configuration = client.Configuration(host=endpoint.server)
    # One attempt per request: a dead cluster must fail fast, and the caller
    # decides whether to try again.
    configuration.retries = False
    configuration.verify_ssl = not endpoint.insecure_skip_tls_verify
    if endpoint.tls_server_name:
        configuration.tls_server_name = endpoint.tls_server_name
    if endpoint.token:
        configuration.api_key = {"BearerToken": endpoint.token}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    tls_files = _tls_files(configuration, endpoint)
    return ClusterApiClient(configuration, timeout=timeout, tls_files=tls_files)


def _tls_files(configuration, endpoint: Endpoint) -> PrivateFiles | None:
    """Write the endpoint's CA and client certificate where the client reads them."""
    if not (endpoint.ca_pem or endpoint.cert_pem):
        return None
    files = PrivateFiles()
    if endpoint.ca_pem:
        configuration.ssl_ca_cert = files.write("ca.pem", endpoint.ca_pem)
    if endpoint.cert_pem:
        configuration.cert_file = files.write("client.pem", endpoint.cert_pem)
        configuration.key_file = files.write("client.key", endpoint.key_pem)
    return files


def check_tls_material(endpoint: Endpoint, *, field_names: dict[str, str]) -> None:
    """Refuse a CA that is no certificate, or a certificate and key that differ."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if endpoint.ca_pem:
        try:
            context.load_verify_locations(cadata=endpoint.ca_pem)
        except ssl.SSLError as exc:
            raise CredentialsError(
                field_names["ca"], "the CA certificate does not load"
            ) from exc
    if endpoint.cert_pem:
        files = PrivateFiles()
        try:
            context.load_cert_chain(
                files.write("client.pem", endpoint.cert_pem),
                files.write("client.key", endpoint.key_pem),
            )
        except ssl.SSLError as exc:
            raise CredentialsError(
                field_names["key"],
                "the client certificate and key do not load or do not match",
            ) from exc
        finally:
            files.remove()


def api_client_for(cluster, *, timeout: float | None = None) -> ClusterApiClient:
    """Build a kubernetes ApiClient from a cluster's decrypted credentials."""
    if timeout is None:
        timeout = settings.KUBEORCH_KUBE_TIMEOUT
    endpoint = endpoint_for(cluster.auth_method, cluster.credentials())
    return client_for_endpoint(endpoint, timeout=timeout)


@contextlib.contextmanager
def connect(cluster, *, timeout: float | None = None) -> Iterator[ClusterApiClient]:
    """Yield a client for the cluster and close its connections afterwards."""
    api_client = api_client_for(cluster, timeout=timeout)
    try:
        yield api_client
    finally:
        api_client.close()


# Probe ----------------------------------------------------------------------


def probe(cluster, *, timeout: float | None = None) -> ClusterProbe:
    """Ask the cluster its version, nodes and namespaces, in bounded time."""
    try:
        endpoint = endpoint_for(cluster.auth_method, cluster.credentials())
    except SealError:
        return ClusterProbe(
            reachable=False,
            error="the stored credentials cannot be opened with the configured keys",
            error_kind="credentials",
        )
    except CredentialsError as exc:
        return ClusterProbe(
            reachable=False, error=exc.message, error_kind="credentials"
        )
    return probe_endpoint(endpoint, timeout=timeout)


def probe_endpoint(endpoint: Endpoint, *, timeout: float | None = None) -> ClusterProbe:
    """Probe an endpoint: GET /version, list nodes, list namespaces."""
    if timeout is None:
        timeout = settings.KUBEORCH_KUBE_TIMEOUT
    with client_for_endpoint(endpoint, timeout=timeout) as api_client:
        return _run_probe(api_client, endpoint.server, timeout)


def _run_probe(api_client, server: str, timeout: float) -> ClusterProbe:
    result = ClusterProbe(reachable=False)
    core = client.CoreV1Api(api_client)
    try:
        result.version = _server_version(api_client)
        result.node_count = _optional(
            result, "list nodes", lambda: len(core.list_node().items)
        )
        result.namespaces = (
            _optional(
                result,
                "list namespaces",
                lambda: sorted(ns.metadata.name for ns in core.list_namespace().items),
            )
            or []
        )
    except ApiException as exc:
        result.error, result.error_kind = _api_error(exc, server)
        return result
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        result.error = describe_transport_error(exc, server, timeout)
        result.error_kind = "unreachable"
        return result
    result.reachable = True
    return result


def _server_version(api_client) -> str:
    info = client.VersionApi(api_client).get_code()
    return info.git_version or f"v{info.major}.{info.minor}"


def _optional(result: ClusterProbe, what: str, read):
    """Read a detail the credentials may not be allowed to see (403)."""
    try:
        return read()
    except ApiException as exc:
        if exc.status != 403:
            raise
        result.warnings.append(f"the credentials are not allowed to {what} (403)")
        return None


def _api_error(exc: ApiException, server: str) -> tuple[str, str]:
    if exc.status == 0:
        # The client turns TLS failures into an ApiException without status.
        return f"TLS with {server} failed: {_ssl_reason(exc.reason or '')}", (
            "unreachable"
        )
    if exc.status == 401:
        return "the server refused the credentials (401)", "credentials"
    if exc.status == 403:
        return "the credentials are not allowed to read the server (403)", "credentials"
    if exc.status == 404:
        return (
            f"{server} does not look like a Kubernetes API server (404 on /version)",
            "unreachable",
        )
    return f"{server} answered {exc.status} {exc.reason or ''}".strip(), "unreachable"


def describe_transport_error(exc: BaseException, server: str, timeout: float) -> str:
    """Say in words why a request to a server got no HTTP answer."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    # NewConnectionError is a ConnectTimeoutError in urllib3, so it comes first.
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return f"{urlsplit(server).hostname} could not be resolved"
    if isinstance(exc, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return f"{server} refused the connection"
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"{server} did not answer within {timeout:g} s"
    if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError):
        return f"TLS with {server} failed: {_ssl_reason(str(exc))}"
    if isinstance(exc, urllib3.exceptions.ProtocolError | ConnectionError):
        return f"{server} closed the connection without an HTTP answer"
    return f"{server} could not be reached ({type(exc).__name__})"


def _ssl_reason(text: str) -> str:
    """Keep the readable part of an OpenSSL message."""
    text = text.replace("SSLError\n", "").strip()
    marker = "certificate verify failed"
    if marker in text:
        text = text[text.index(marker) :]
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    text = re.sub(r"\[SSL: [A-Z0-9_]+\]\s*", "", text)
    return text.strip(" ')\"")[:200]
