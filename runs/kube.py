"""Thin REST access to a cluster for the run engine: paths, apply, list, delete.

The engine talks to the API server with plain dicts through the connection
settings of an authenticated ``kubernetes.client.ApiClient``: same host, TLS
files and credentials, but its own urllib3 pool (sized for the engine's
threads), a timeout on every request and no retries, so an unreachable
cluster fails in bounded time. Responses are parsed as JSON and never turned
into the client's pydantic models, which is where most of its time goes.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import urllib3
from kubernetes.client import ApiClient, rest

logger = logging.getLogger(__name__)

FIELD_MANAGER = "kubeorch"
APPLY_PATCH = "application/apply-patch+yaml"
# Ask for metadata only; servers that do not know the form send full objects.
METADATA_ONLY = (
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
)


class KubeError(Exception):
    """An answer from the API server that is not a success."""

    def __init__(
        self, code: int, reason: str, message: str, causes: list[dict] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes or []

    def describe(self) -> str:
        """Return the server's message with any causes it did not mention."""
        extra = [
            _describe_cause(cause)
            for cause in self.causes
            if cause.get("message") and cause["message"] not in self.message
        ]
        return "; ".join([self.message, *extra])


class ClusterUnreachable(KubeError):
    """The cluster did not answer (refused, timed out, TLS failed)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unreachable", message)


def _describe_cause(cause: dict) -> str:
    """Return one Status cause as "field: message"."""
    if cause.get("field"):
        return f"{cause['field']}: {cause['message']}"
    return cause["message"]


@dataclass(frozen=True)
class Resource:
    """Where the API serves one kind: group, version, plural, scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """Return the apiVersion string ("v1", "apps/v1")."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        """Return the path of the collection, in a namespace or across all."""
        base = f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        """Return the path of one object."""
        return f"{self.collection_path(namespace)}/{quote(name, safe='')}"


class KubeClient:
    """JSON requests to the API server with a timeout and without retries."""

    def __init__(
        self, api_client: ApiClient, *, timeout: float, pool_size: int
    ) -> None:
        configuration = copy.copy(api_client.configuration)
        configuration.retries = False
        configuration.connection_pool_maxsize = max(
            pool_size, api_client.configuration.connection_pool_maxsize or 0
        )
        self.configuration = configuration
        self.host = configuration.host.rstrip("/")
        self.timeout = timeout
        self._pool = rest.RESTClientObject(configuration).pool_manager
        self._default_headers = dict(api_client.default_headers)
        self._default_headers.setdefault("User-Agent", "kubeorch")

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict | None = None,
        body: dict | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float | None = None,
    ) -> dict:
        """Send one request and return the decoded JSON answer."""
        url = self.host + path
        if query:
            url += "?" + urlencode(query)
        headers = self._headers(content_type, accept)
        payload = json.dumps(body).encode() if body is not None else None
        limit = timeout or self.timeout
        try:
            response = self._pool.request(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(total=limit),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise ClusterUnreachable(
                f"cluster {self.host} did not answer within {limit:g} s: "
                f"{describe_network_error(error)}"
            ) from error
        return _decode(response)

    def _headers(self, content_type: str, accept: str) -> dict:
        """Return the request headers with the credentials of the client."""
        headers = {
            **self._default_headers,
            "Accept": accept,
            "Content-Type": content_type,
        }
        for setting in self.configuration.auth_settings().values():
            if setting["in"] == "header" and setting["value"]:
                headers[setting["key"]] = setting["value"]
        basic = self.configuration.get_basic_auth_token()
        if basic and self.configuration.username:
            headers["Authorization"] = basic
        return headers

    def version(self, timeout: float | None = None) -> dict:
        """Return the server's /version answer."""
        return self.request("GET", "/version", timeout=timeout)

    def apply(self, resource: Resource, manifest: dict) -> dict:
        """Server-side apply a manifest (creating it when missing)."""
        meta = manifest["metadata"]
        return self.request(
            "PATCH",
            resource.object_path(meta.get("namespace"), meta["name"]),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=manifest,
            content_type=APPLY_PATCH,
        )

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> list[dict]:
        """List objects, each item given its apiVersion and kind."""
        # TODO(pagination): one request per list, without limit/continue; a
        # namespace with many thousands of objects comes back in one answer.
        query = {"labelSelector": label_selector} if label_selector else None
        answer = self.request(
            "GET",
            resource.collection_path(namespace),
            query=query,
            accept=METADATA_ONLY if metadata_only else "application/json",
        )
        items = answer.get("items") or []
        for item in items:
            item["apiVersion"] = resource.api_version
            item["kind"] = resource.kind
        return items

    def delete(self, resource: Resource, namespace: str | None, name: str, uid: str):
        """Delete one object in the background, only if its uid still matches."""
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": uid},
        }
        return self.request(
            "DELETE",
            resource.object_path(namespace, name),
            query={"propagationPolicy": "Background"},
            body=options,
        )


def describe_network_error(error: Exception) -> str:
    """Return the plain reason of a urllib3 failure ("Connection refused")."""
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    # urllib3 prefixes the connection object: "HTTPConnection(...): Failed ..."
    if "): " in text:
        text = text.rsplit("): ", 1)[1]
    text = text.replace("Failed to establish a new connection: ", "")
    return re.sub(r"^\[Errno -?\d+\] ", "", text)


def _decode(response: urllib3.BaseHTTPResponse) -> dict:
    """Return the JSON body of a success, or raise the server's Status."""
    try:
        body = json.loads(response.data) if response.data else {}
    except ValueError:
        body = {"message": response.data[:200].decode(errors="replace")}
    if 200 <= response.status < 300:
        return body
    details = body.get("details") or {}
    raise KubeError(
        response.status,
        body.get("reason") or str(response.status),
        body.get("message") or f"the server answered {response.status}",
        details.get("causes"),
    )


class Discovery:
    """Kind → Resource from the server's discovery documents, cached."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._lock = threading.Lock()
        self._versions: dict[str, dict[str, Resource]] = {}

    def resolve(self, api_version: str, kind: str) -> Resource:
        """Return where a kind is served; raise KubeError 404 when it is not."""
        resources = self._group_version(api_version)
        if kind not in resources:
            raise KubeError(
                404,
                "NotFound",
                f"the cluster does not serve kind {kind} in {api_version}",
            )
        return resources[kind]

    def serves(self, api_version: str, kind: str) -> bool:
        """Return True when the cluster serves the kind."""
        try:
            self.resolve(api_version, kind)
        except ClusterUnreachable:
            raise
        except KubeError:
            return False
        return True

    def load(self, api_version: str) -> None:
        """Fetch the resources of one group/version unless already known."""
        self._group_version(api_version)

    def _group_version(self, api_version: str) -> dict[str, Resource]:
        """Fetch (once) the resources of one group/version."""
        with self._lock:
            if api_version in self._versions:
                return self._versions[api_version]
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            document = self._kube.request("GET", path)
        except ClusterUnreachable:
            raise
        except KubeError as error:
            if error.code != 404:
                raise
            document = {}
        resources = _parse_resource_list(api_version, document)
        with self._lock:
            self._versions[api_version] = resources
        return resources


def _parse_resource_list(api_version: str, document: dict) -> dict[str, Resource]:
    """Turn an APIResourceList into kind → Resource (subresources skipped)."""
    group, _, version = api_version.rpartition("/")
    resources = {}
    for entry in document.get("resources") or []:
        if "/" in entry["name"]:
            continue
        resources[entry["kind"]] = Resource(
            group=group,
            version=version,
            kind=entry["kind"],
            plural=entry["name"],
            namespaced=bool(entry.get("namespaced")),
        )
    return resources
