"""The watcher: live health of every deployed node, from watches per kind.

``manage.py watch`` runs one ``Watcher``. For each cluster that has
workflows, the replica that holds the cluster's lease in Redis runs one
list-and-watch per kind across all namespaces (``KindStream``, a thread
each), filtered by the ownership labels where the objects carry them. The
streams only read: they hand what they see to the watcher's loop through
one queue, and the loop, in a single thread, keeps a cache per cluster,
judges the nodes whose objects changed with ``runs.health.assess_node`` over
a ``SnapshotView`` of that cache, writes ``NodeStatus`` rows and publishes
``node.status`` to ``workflow.<uuid>`` only when a node's health changed.

What a node is made of comes from the version of the workflow's latest run,
rendered again (secret values left out, only the identities are kept). The
loop re-reads the database every ``refresh_interval``: workflows and runs
appearing or going, the latest run's status (published as ``run.status``),
and the cluster leases (acquired, renewed, released).

A stream resumes from the last resourceVersion it saw, whether the server
ended the stream (timeoutSeconds) or the connection was cut; an ERROR event
with code 410 makes it list again, and so does the periodic resync. Errors
back off exponentially with jitter; after ``unreachable_after`` seconds
without an answer every node of the cluster is marked ``unknown`` with the
reason. Secret and ConfigMap objects are kept as metadata only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

import redis
import urllib3
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from clusters.connection import CredentialsError, api_client_for
from clusters.models import Cluster
from kubeorch.crypto import SealError
from workflows.canvas import CanvasInvalid
from workflows.models import Workflow, WorkflowVersion
from workflows.render import render_canvas

from . import live
from .engine import MANAGED_BY, WORKFLOW_LABEL
from .health import (
    INGRESS_GRACE_SECONDS,
    Health,
    HealthState,
    SnapshotView,
    api_group,
    assess_node,
    manifest_namespace,
)
from .kube import (
    ClusterUnreachable,
    Discovery,
    KubeClient,
    KubeError,
    Resource,
    describe_network_error,
)
from .models import NodeStatus, Run

logger = logging.getLogger(__name__)

MANAGED_SELECTOR = f"{MANAGED_BY}=kubeorch"
# Claims made from a StatefulSet's volumeClaimTemplates carry the template's
# labels, which hold the workflow label but not managed-by.
WORKFLOW_SELECTOR = WORKFLOW_LABEL
METADATA_LIST = (
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
)
METADATA_WATCH = (
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"
)
# A stream that ends sooner than this without delivering anything counts
# as a failure for back-off, so a server that cuts at once is not hammered.
MIN_STREAM_SECONDS = 1.0
LEASE_PREFIX = "kubeorch:watcher:lease:"
# Stream messages taken in one turn, so a flood cannot starve the leases.
MAX_BATCH = 5000


@dataclass(frozen=True)
class WatchedKind:
    """One kind the watcher lists and watches on every cluster."""

    api_version: str
    kind: str
    label_selector: str | None = MANAGED_SELECTOR
    field_selector: str | None = None
    # Keep only metadata: the values are not needed, or must never be held.
    metadata_only: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """Return the identity of the kind: group and kind."""
        return (api_group(self.api_version), self.kind)


WATCHED_KINDS: tuple[WatchedKind, ...] = (
    WatchedKind("apps/v1", "Deployment"),
    WatchedKind("apps/v1", "StatefulSet"),
    WatchedKind("apps/v1", "DaemonSet"),
    WatchedKind("apps/v1", "ReplicaSet"),
    WatchedKind("batch/v1", "Job"),
    WatchedKind("batch/v1", "CronJob"),
    WatchedKind("v1", "Pod"),
    # Every Service: an Ingress may route to one of another workflow.
    WatchedKind("v1", "Service", label_selector=None),
    WatchedKind("v1", "Endpoints"),
    WatchedKind("networking.k8s.io/v1", "Ingress"),
    WatchedKind("v1", "PersistentVolumeClaim", label_selector=WORKFLOW_SELECTOR),
    WatchedKind("autoscaling/v2", "HorizontalPodAutoscaler"),
    WatchedKind("v1", "ConfigMap", metadata_only=True),
    WatchedKind("v1", "Secret", metadata_only=True),
    WatchedKind("networking.k8s.io/v1", "NetworkPolicy"),
    # Events carry no labels; the health rules only read warnings.
    # TODO(watch-events): every Warning event of the cluster is cached; on a
    # busy shared cluster a field selector per involved namespace would keep
    # the cache to what KubeOrch's workflows can be told about.
    WatchedKind("v1", "Event", label_selector=None, field_selector="type=Warning"),
    WatchedKind("storage.k8s.io/v1", "StorageClass", label_selector=None),
)
WATCHED_KEYS = frozenset(kind.key for kind in WATCHED_KINDS)


def utc_now() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)


# --- Talking to the API server -----------------------------------------------


class WatchClient(KubeClient):
    """A KubeClient that also keeps a list's resourceVersion, and watches."""

    def list_with_version(
        self, resource: Resource, kind: WatchedKind
    ) -> tuple[list[dict], str]:
        """List a kind across all namespaces; return items and list version."""
        # TODO(watch-pagination): one answer per list, without limit/continue,
        # like KubeClient.list; a cluster with many thousands of pods sends
        # them all at once.
        answer = self.request(
            "GET",
            resource.collection_path(),
            query=_selectors(kind) or None,
            accept=METADATA_LIST if kind.metadata_only else "application/json",
        )
        version = (answer.get("metadata") or {}).get("resourceVersion", "")
        return answer.get("items") or [], version

    def watch(
        self,
        resource: Resource,
        kind: WatchedKind,
        resource_version: str,
        timeout_seconds: int,
    ) -> urllib3.BaseHTTPResponse:
        """Open a watch stream from a resourceVersion; raise on a refusal."""
        query = {
            **_selectors(kind),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        url = f"{self.host}{resource.collection_path()}?{urlencode(query)}"
        accept = METADATA_WATCH if kind.metadata_only else "application/json"
        try:
            response = self._pool.request(
                "GET",
                url,
                headers=self._headers("application/json", accept),
                # The read timeout spans the whole quiet period the server
                # may leave before it ends the stream.
                timeout=urllib3.Timeout(
                    connect=self.timeout, read=timeout_seconds + self.timeout
                ),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise ClusterUnreachable(
                f"cluster {self.host} did not answer: {describe_network_error(error)}"
            ) from error
        if response.status != 200:
            _raise_refusal(response)
        return response


class WatchDiscovery(Discovery):
    """Discovery that can forget a group/version, to look for it again."""

    def forget(self, api_version: str) -> None:
        """Drop what is known of one group/version."""
        with self._lock:
            self._versions.pop(api_version, None)


def _selectors(kind: WatchedKind) -> dict:
    """Return the label and field selectors of a kind as query parameters."""
    query = {}
    if kind.label_selector:
        query["labelSelector"] = kind.label_selector
    if kind.field_selector:
        query["fieldSelector"] = kind.field_selector
    return query


def _raise_refusal(response: urllib3.BaseHTTPResponse) -> None:
    """Raise the Status of a watch the server refused."""
    data = response.read()
    response.release_conn()
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    raise KubeError(
        response.status,
        body.get("reason") or str(response.status),
        body.get("message") or f"the server answered {response.status}",
    )


def iter_watch_events(response: urllib3.BaseHTTPResponse) -> Iterator[dict]:
    """Yield the newline-delimited JSON events of a watch stream as they come."""
    buffer = b""
    for chunk in _chunks(response):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _chunks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Yield the body as it arrives (chunk by chunk when it is chunked)."""
    if response.chunked:
        yield from response.read_chunked()
        return
    while True:
        data = response.read1(65536)
        if not data:
            return
        yield data


def trim(obj: dict, kind: WatchedKind, resource: Resource) -> dict:
    """Return the part of a listed or watched object the cache keeps."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    # Never hold a Secret's values, nor a ConfigMap's, beyond metadata.
    trimmed = {"metadata": meta} if kind.metadata_only else {**obj, "metadata": meta}
    trimmed["apiVersion"] = resource.api_version
    trimmed["kind"] = resource.kind
    return trimmed


# --- Messages from the streams to the loop -----------------------------------


@dataclass
class Listed:
    """A full list of one kind (first list, after a 410, or a resync)."""

    session: int
    kind: tuple[str, str]
    items: list[dict]
    served: bool = True


@dataclass
class Changed:
    """One ADDED, MODIFIED or DELETED event of a watch."""

    session: int
    kind: tuple[str, str]
    event_type: str
    obj: dict


@dataclass
class Failed:
    """A stream could not list or watch; ``unreachable``: no answer at all."""

    session: int
    kind: tuple[str, str]
    message: str
    unreachable: bool


@dataclass
class Recovered:
    """A stream got answers again after failing."""

    session: int
    kind: tuple[str, str]


class Backoff:
    """Exponential delays with jitter, reset after a success."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        """Return the next delay and count one more failure."""
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        # Half fixed, half random: replicas and streams do not retry in step.
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        """Start again from the base delay."""
        self.failures = 0


class KindStream:
    """One list-and-watch of one kind across a cluster, in its own thread."""

    def __init__(self, cluster: ClusterWatch, kind: WatchedKind) -> None:
        self.cluster = cluster
        self.kind = kind
        self.resource_version: str | None = None
        self.backoff = Backoff(
            cluster.options.backoff_base, cluster.options.backoff_cap
        )
        self._failing = False
        self._response: urllib3.BaseHTTPResponse | None = None
        self._response_lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run,
            name=f"watch-{cluster.cluster_id[:8]}-{kind.kind}",
            daemon=True,
        )

    def start(self) -> None:
        """Start the stream's thread."""
        self.thread.start()

    def interrupt(self) -> None:
        """Cut the open watch so a stopping thread wakes up."""
        with self._response_lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()

    @property
    def _stopped(self) -> bool:
        return self.cluster.stop_event.is_set()

    def _run(self) -> None:
        """List and watch until the cluster watch stops."""
        while not self._stopped:
            try:
                self._list_and_watch()
            except ClusterUnreachable as error:
                self._fail(error.message, unreachable=True)
            except KubeError as error:
                self._fail(f"{error.code} {error.describe()}", unreachable=False)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                self._fail(f"{type(error).__name__}: {error}", unreachable=True)
            except ValueError as error:
                self._fail(f"unreadable answer: {error}", unreachable=False)
            else:
                continue
            self._pause()

    def _list_and_watch(self) -> None:
        """List, then watch from the list's version until a relist is due."""
        resource = self._resolve()
        if resource is None:
            self._post(Listed(self.cluster.session, self.kind.key, [], served=False))
            self.cluster.stop_event.wait(self.cluster.options.resync_interval)
            return
        items, version = self.cluster.client.list_with_version(resource, self.kind)
        self._succeeded()
        self.backoff.reset()
        trimmed = [trim(item, self.kind, resource) for item in items]
        self._post(Listed(self.cluster.session, self.kind.key, trimmed))
        self.resource_version = version
        resync_at = time.monotonic() + self.cluster.options.resync_interval
        while not self._stopped and time.monotonic() < resync_at:
            if not self._watch_once(resource, resync_at):
                return

    def _resolve(self) -> Resource | None:
        """Return where the cluster serves the kind (None: it does not)."""
        try:
            return self.cluster.discovery.resolve(self.kind.api_version, self.kind.kind)
        except ClusterUnreachable:
            raise
        except KubeError as error:
            if error.code != 404:
                raise
        # Ask again next time: a CustomResourceDefinition may come later.
        self.cluster.discovery.forget(self.kind.api_version)
        return None

    def _watch_once(self, resource: Resource, resync_at: float) -> bool:
        """Follow one watch stream; return False when a fresh list is needed."""
        remaining = max(1, int(resync_at - time.monotonic()))
        timeout = min(self.cluster.options.watch_timeout, remaining)
        response = self.cluster.client.watch(
            resource, self.kind, self.resource_version, timeout
        )
        self._succeeded()
        opened, delivered = time.monotonic(), 0
        with self._response_lock:
            self._response = response
        try:
            if self._stopped:
                return True  # stopped before interrupt() could see it
            for event in iter_watch_events(response):
                if self._stopped:
                    return True
                delivered += 1
                if not self._handle(event, resource):
                    return False
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # A cut stream is resumed from the last version it delivered.
            if not self._stopped:
                logger.info("watch of %s cut: %s", self._name, error)
        finally:
            with self._response_lock:
                self._response = None
            response.release_conn()
        if not delivered and time.monotonic() - opened < MIN_STREAM_SECONDS:
            self._pause()
        return True

    def _handle(self, event: dict, resource: Resource) -> bool:
        """Pass one event on; return False after a 410 (list again)."""
        event_type, obj = event.get("type"), event.get("object") or {}
        if event_type == "ERROR":
            if obj.get("code") == 410:
                logger.info("watch of %s expired (410): listing again", self._name)
                self.resource_version = None
                return False
            raise KubeError(
                obj.get("code") or 500,
                obj.get("reason") or "Error",
                obj.get("message") or "the watch failed",
            )
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = version
        if event_type in ("ADDED", "MODIFIED", "DELETED"):
            self._post(
                Changed(
                    self.cluster.session,
                    self.kind.key,
                    event_type,
                    trim(obj, self.kind, resource),
                )
            )
            self.backoff.reset()
        return True

    def _succeeded(self) -> None:
        """Tell the loop once that the stream gets answers again."""
        if self._failing:
            self._failing = False
            self._post(Recovered(self.cluster.session, self.kind.key))

    def _fail(self, message: str, *, unreachable: bool) -> None:
        """Tell the loop that the stream failed."""
        if self._stopped:
            return
        if not self._failing:
            logger.warning("watch of %s failed: %s", self._name, message)
        self._failing = True
        self._post(Failed(self.cluster.session, self.kind.key, message, unreachable))

    def _pause(self) -> None:
        """Wait the next back-off delay (woken by a stop)."""
        self.cluster.stop_event.wait(self.backoff.next_delay())

    def _post(self, message) -> None:
        self.cluster.inbox.put((self.cluster.cluster_id, message))

    @property
    def _name(self) -> str:
        return f"{self.kind.kind} on cluster {self.cluster.cluster_id}"


# --- The cache of one cluster ------------------------------------------------


class ClusterCache:
    """The objects seen on one cluster, by kind and by namespace."""

    def __init__(self) -> None:
        self._by_kind: dict[tuple[str, str], dict[tuple[str, str], dict]] = defaultdict(
            dict
        )
        self._by_namespace: dict[str, dict[tuple, dict]] = defaultdict(dict)
        self._by_uid: dict[str, dict] = {}

    def replace(self, kind: tuple[str, str], items: list[dict]) -> list[dict]:
        """Replace every object of a kind; return those added, changed or gone."""
        old = self._by_kind.get(kind, {})
        new = {_name_key(item): item for item in items}
        touched = [
            item
            for key, item in new.items()
            if _version(old.get(key)) != _version(item)
        ]
        touched += [item for key, item in old.items() if key not in new]
        for item in old.values():
            self._unindex(kind, item)
        self._by_kind[kind] = new
        for item in new.values():
            self._index(kind, item)
        return touched

    def apply(self, kind: tuple[str, str], event_type: str, obj: dict) -> list[dict]:
        """Apply one watch event; return the objects it touched (old and new)."""
        key = _name_key(obj)
        old = self._by_kind[kind].pop(key, None)
        if old is not None:
            self._unindex(kind, old)
        if event_type != "DELETED":
            self._by_kind[kind][key] = obj
            self._index(kind, obj)
        return [item for item in (old, obj) if item is not None]

    def objects_in(self, namespaces: Iterable[str]) -> list[dict]:
        """Return the objects of some namespaces and every cluster-scoped one."""
        objects = list(self._by_namespace.get("", {}).values())
        for namespace in set(namespaces) - {""}:
            objects.extend(self._by_namespace.get(namespace, {}).values())
        return objects

    def by_uid(self, uid: str | None) -> dict | None:
        """Return a cached object by uid."""
        return self._by_uid.get(uid) if uid else None

    def count(self) -> int:
        """Return how many objects are cached."""
        return sum(len(objects) for objects in self._by_kind.values())

    def _index(self, kind: tuple[str, str], obj: dict) -> None:
        namespace, name = _name_key(obj)
        self._by_namespace[namespace][(kind, name)] = obj
        uid = obj["metadata"].get("uid")
        if uid:
            self._by_uid[uid] = obj

    def _unindex(self, kind: tuple[str, str], obj: dict) -> None:
        namespace, name = _name_key(obj)
        self._by_namespace[namespace].pop((kind, name), None)
        uid = obj["metadata"].get("uid")
        if uid and self._by_uid.get(uid) is obj:
            del self._by_uid[uid]


def _name_key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def _version(obj: dict | None) -> str | None:
    return None if obj is None else obj["metadata"].get("resourceVersion")


# --- One held cluster --------------------------------------------------------


@dataclass
class WatchOptions:
    """Knobs of the watches (the Watcher's, shared by its clusters)."""

    resync_interval: float = 600.0
    watch_timeout: int = 240
    request_timeout: float = 10.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


class ClusterWatch:
    """The streams, cache and per-node memory of one cluster this replica holds."""

    _sessions = itertools.count(1)

    def __init__(self, cluster: Cluster, inbox: queue.Queue, options: WatchOptions):
        self.cluster_id = str(cluster.pk)
        self.credentials = credentials_fingerprint(cluster.sealed_credentials)
        self.inbox = inbox
        self.options = options
        self.session = next(self._sessions)
        self.stop_event = threading.Event()
        self.cache = ClusterCache()
        self.api_client = api_client_for(cluster, timeout=options.request_timeout)
        self.client = WatchClient(
            self.api_client,
            timeout=options.request_timeout,
            pool_size=len(WATCHED_KINDS) + 8,
        )
        self.discovery = WatchDiscovery(self.client)
        self.streams: dict[tuple[str, str], KindStream] = {}
        self.listed: set[tuple[str, str]] = set()
        self.failed: dict[tuple[str, str], str] = {}
        self.unreachable_since: dict[tuple[str, str], float] = {}
        self.marked_unreachable = False
        # (workflow id, node id) -> the fingerprint last stored and published.
        self.last: dict[tuple[str, str], tuple] = {}
        self.lease_valid_until = 0.0
        self.next_renewal = 0.0
        self.was_ready = False

    def start(self, kinds: Iterable[WatchedKind]) -> None:
        """Start one stream per kind."""
        self.ensure_kinds(kinds)

    def ensure_kinds(self, kinds: Iterable[WatchedKind]) -> None:
        """Start streams for kinds not watched yet (custom resources)."""
        for kind in kinds:
            if kind.key not in self.streams:
                stream = KindStream(self, kind)
                self.streams[kind.key] = stream
                stream.start()

    def stop(self) -> None:
        """Stop every stream and close the connections."""
        self.stop_event.set()
        for stream in self.streams.values():
            stream.interrupt()
        # A stream inside a list request ends within the request timeout;
        # it posts nothing that counts any more, so do not wait that long.
        deadline = time.monotonic() + 2
        for stream in self.streams.values():
            stream.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.client.close()
        self.api_client.close()

    @property
    def ready(self) -> bool:
        """Return True once every kind was listed or failed at least once."""
        return all(key in self.listed or key in self.failed for key in self.streams)

    def unreachable_for(self, now: float) -> float:
        """Return for how long some stream has had no answer (0 when none)."""
        if not self.unreachable_since:
            return 0.0
        return now - min(self.unreachable_since.values())


# --- Leases ------------------------------------------------------------------

_ACQUIRE = """
local holder = redis.call('get', KEYS[1])
if holder == false then
  return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
end
if holder == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class ClusterLeases:
    """Which replica watches which cluster: one Redis key per cluster."""

    def __init__(self, client: redis.Redis, replica_id: str, ttl: float) -> None:
        self.client = client
        self.replica_id = replica_id
        self.ttl_ms = int(ttl * 1000)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self, cluster_id: str) -> bool:
        """Take the cluster's lease if nobody holds it (or this replica did).

        A replica restarted under the same id takes its lease back at once
        instead of waiting for the one its previous run left to expire.
        """
        keys, args = [LEASE_PREFIX + cluster_id], [self.replica_id, self.ttl_ms]
        return bool(self._acquire(keys=keys, args=args))

    def renew(self, cluster_id: str) -> bool:
        """Extend the lease; False when another replica holds it now."""
        keys, args = [LEASE_PREFIX + cluster_id], [self.replica_id, self.ttl_ms]
        return bool(self._renew(keys=keys, args=args))

    def release(self, cluster_id: str) -> None:
        """Give the lease up if this replica still holds it."""
        self._release(keys=[LEASE_PREFIX + cluster_id], args=[self.replica_id])

    def holder(self, cluster_id: str) -> str | None:
        """Return the replica holding a cluster's lease."""
        value = self.client.get(LEASE_PREFIX + cluster_id)
        return value.decode() if value else None


def lease_client(url: str) -> redis.Redis:
    """Return a Redis client for leases: short timeouts and no retry storms."""
    # Lease calls never block on the server, so a finite timeout is right;
    # redis-py's default retries would outlast the lease itself.
    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=5,
        retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    )


# --- Publishing --------------------------------------------------------------


class Publisher:
    """Sends channel-layer messages in order from one event loop of its own."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="watch-publisher", daemon=True
        )

    def start(self) -> None:
        """Start the loop thread and wait until it can take messages."""
        self._thread.start()
        self._ready.wait(10)

    def publish(self, group: str, message: dict) -> None:
        """Queue one message for a group (kept in order)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued message was handed to the layer."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._queue.join(), self._loop)
        with contextlib.suppress(TimeoutError):
            future.result(timeout)

    def stop(self) -> None:
        """Flush, then stop the loop."""
        if not self._thread.is_alive():
            return
        self.flush()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        sender = self._loop.create_task(self._send_forever())
        self._ready.set()
        self._loop.run_forever()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(sender)
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _send_forever(self) -> None:
        """Send what is queued: groups side by side, each group in order."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            by_group: dict[str, list[dict]] = defaultdict(list)
            for group, message in batch:
                by_group[group].append(message)
            await asyncio.gather(
                *(self._send_in_order(g, messages) for g, messages in by_group.items())
            )
            for _ in batch:
                self._queue.task_done()

    async def _send_in_order(self, group: str, messages: list[dict]) -> None:
        for message in messages:
            try:
                await self.layer.group_send(group, message)
                self.sent += 1
            except Exception as error:
                logger.warning("could not publish to %s: %r", group, error)


# --- What is watched ---------------------------------------------------------


@dataclass
class TrackedNode:
    """A node of a deployed version: its kind and its objects' identities."""

    node_id: str
    kind: str
    manifests: list[dict]


@dataclass
class TrackedWorkflow:
    """A workflow as the database last said, with its deployed nodes."""

    workflow_id: str
    cluster_id: str
    namespace: str
    version_id: int | None = None
    run: tuple[str, str] | None = None
    nodes: dict[str, TrackedNode] = field(default_factory=dict)
    render_error: str = ""

    @property
    def namespaces(self) -> set[str]:
        """Return the namespaces its objects live in."""
        return {
            manifest["metadata"].get("namespace") or ""
            for node in self.nodes.values()
            for manifest in node.manifests
        }

    @property
    def kinds(self) -> set[tuple[str, str]]:
        """Return the kinds of its nodes' objects."""
        return {
            (api_group(m["apiVersion"]), m["kind"])
            for node in self.nodes.values()
            for m in node.manifests
        }


def render_identities(
    workflow_id: str, namespace: str, version
) -> dict[str, TrackedNode]:
    """Render a version's nodes to the identities of their objects."""
    rendered = render_canvas(
        version.nodes,
        version.edges,
        workflow_id=workflow_id,
        namespace=namespace,
        # Only names matter here: secret values are never unsealed.
        reveal=lambda _sealed: "",
    )
    return {
        node.node_id: TrackedNode(
            node.node_id, node.kind, [_identity(m) for m in node.manifests]
        )
        for node in rendered
    }


def _identity(manifest: dict) -> dict:
    """Return what identifies a manifest's live object."""
    metadata = {"name": manifest.get("metadata", {}).get("name", "")}
    namespace = manifest_namespace(manifest)
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": manifest.get("apiVersion", ""),
        "kind": manifest.get("kind", ""),
        "metadata": metadata,
    }


def credentials_fingerprint(sealed: str) -> str:
    """Return a digest that changes when a cluster's credentials change."""
    return hashlib.sha256(sealed.encode()).hexdigest()


def default_replica_id() -> str:
    """Return a name for this replica that no other process shares."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _fingerprint(kind: str, health: dict) -> tuple:
    """Return what must differ for a node's health to count as changed."""
    return (kind, json.dumps(health, sort_keys=True, default=str))


# --- The watcher -------------------------------------------------------------


class Watcher:
    """Keeps NodeStatus live and publishes its changes; see the module doc.

    Run it with ``run_forever(stop_event)`` (or ``running()`` in a thread);
    ``step()`` does one turn of the loop, for tests that drive it by hand.
    """

    def __init__(
        self,
        *,
        replica_id: str | None = None,
        channel_layer=None,
        redis_url: str | None = None,
        refresh_interval: float = 1.0,
        reassess_interval: float = 15.0,
        lease_ttl: float = 15.0,
        unreachable_after: float = 30.0,
        batch_window: float = 0.01,
        ingress_grace: float = INGRESS_GRACE_SECONDS,
        options: WatchOptions | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.replica_id = replica_id or default_replica_id()
        self.options = options or WatchOptions(
            request_timeout=settings.KUBEORCH_KUBE_TIMEOUT
        )
        self.refresh_interval = refresh_interval
        self.reassess_interval = reassess_interval
        self.lease_ttl = lease_ttl
        self.unreachable_after = unreachable_after
        self.batch_window = batch_window
        self.ingress_grace = ingress_grace
        self.clock = clock
        self.leases = ClusterLeases(
            lease_client(redis_url or settings.REDIS_URL), self.replica_id, lease_ttl
        )
        self.publisher = Publisher(channel_layer or get_channel_layer())
        self.inbox: queue.Queue = queue.Queue()
        self.published_changes = 0
        self.reassessments = 0
        self.lists_taken = 0
        self._tracked: dict[str, TrackedWorkflow] = {}
        self._by_namespace: dict[str, dict[str, set[str]]] = {}
        self._watches: dict[str, ClusterWatch] = {}
        # A fingerprint of each cluster's credentials, and of those that
        # failed (tried again once they change).
        self._credentials: dict[str, str] = {}
        self._unusable: dict[str, str] = {}
        self._dirty: dict[str, set[str]] = defaultdict(set)
        self._next_refresh = 0.0
        self._next_reassess = 0.0
        self._started = False

    # -- running --------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Watch until the event is set, then let every lease go."""
        logger.info("watcher %s started", self.replica_id)
        try:
            while not stop_event.is_set():
                try:
                    self.step()
                except Exception:
                    # One bad turn must not end the live status of everything.
                    logger.exception("watcher %s: a turn failed", self.replica_id)
                    stop_event.wait(self.refresh_interval)
        finally:
            self.close()
            connection.close()
        logger.info("watcher %s stopped", self.replica_id)

    @contextlib.contextmanager
    def running(self) -> Iterator[Watcher]:
        """Run the watcher in a thread for the duration of a with block."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name="watcher", daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=30)

    def step(self, timeout: float | None = None) -> None:
        """Do one turn: refresh when due, take in events, judge, publish."""
        if not self._started:
            self.publisher.start()
            self._started = True
        now = time.monotonic()
        if now >= self._next_refresh:
            self._refresh()
            self._next_refresh = now + self.refresh_interval
        if now >= self._next_reassess:
            # Time alone changes some verdicts (an Ingress's grace period).
            for workflow_id, tracked in self._tracked.items():
                self._dirty[tracked.cluster_id].add(workflow_id)
            self._next_reassess = now + self.reassess_interval
            self.reassessments += 1
        wait = self._next_refresh - time.monotonic()
        if timeout is not None:
            wait = min(wait, timeout)
        for cluster_id, message in self._drain(max(0.0, wait)):
            self._take(cluster_id, message)
        self._check_reachability()
        self._judge_dirty()

    def close(self) -> None:
        """Stop every cluster watch, release the leases, flush the layer."""
        for cluster_id in list(self._watches):
            self._drop_watch(cluster_id, release=True)
        self.publisher.stop()

    def holds(self, cluster_id) -> bool:
        """Return True when this replica watches the cluster."""
        return str(cluster_id) in self._watches

    def cache_of(self, cluster_id) -> ClusterCache | None:
        """Return the object cache of a cluster this replica watches."""
        watch = self._watches.get(str(cluster_id))
        return watch.cache if watch is not None else None

    def is_synced(self, cluster_id) -> bool:
        """Return True when the cluster's first lists are all in."""
        watch = self._watches.get(str(cluster_id))
        return watch is not None and watch.ready

    # -- the database ----------------------------------------------------------

    def _refresh(self) -> None:
        """Re-read workflows and latest runs; manage the cluster leases."""
        close_old_connections()
        try:
            rows = list(_tracked_rows())
            seen = set()
            for row in rows:
                seen.add(str(row["pk"]))
                self._credentials[str(row["cluster_id"])] = credentials_fingerprint(
                    row["cluster__sealed_credentials"]
                )
                self._track(row)
            for workflow_id in set(self._tracked) - seen:
                self._untrack(workflow_id)
        except DatabaseError as error:
            logger.warning("watcher could not read the database: %s", error)
            return
        self._index_namespaces()
        self._manage_leases()

    def _track(self, row: dict) -> None:
        """Add a workflow, or follow its new run, version or cluster."""
        workflow_id, cluster_id = str(row["pk"]), str(row["cluster_id"])
        run = (str(row["run_id"]), row["run_status"]) if row["run_id"] else None
        tracked = self._tracked.get(workflow_id)
        if tracked is None:
            tracked = TrackedWorkflow(
                workflow_id, cluster_id, row["namespace"], run=run
            )
            self._tracked[workflow_id] = tracked
            self._deploy_version(tracked, row["run_version_id"])
            self._seed(tracked)
            return
        if tracked.cluster_id != cluster_id:
            tracked.cluster_id = cluster_id
            self._seed(tracked)
        version_changed = tracked.version_id != row["run_version_id"]
        if version_changed or tracked.namespace != row["namespace"]:
            tracked.namespace = row["namespace"]
            self._deploy_version(tracked, row["run_version_id"])
        # Run starts and ends are published by runs.actions on commit; the
        # watcher only follows which version is deployed.
        tracked.run = run

    def _deploy_version(self, tracked: TrackedWorkflow, version_id: int | None) -> None:
        """Render the nodes of the version to watch; drop nodes it lost."""
        before = set(tracked.nodes)
        tracked.version_id = version_id
        tracked.render_error = ""
        if version_id is None:
            tracked.nodes = {}
        else:
            version = WorkflowVersion.objects.get(pk=version_id)
            try:
                tracked.nodes = render_identities(
                    tracked.workflow_id, tracked.namespace, version
                )
            except Exception as error:
                # A canvas the renderer refuses cannot be judged, only shown.
                if not isinstance(error, CanvasInvalid | ValueError):
                    logger.exception("cannot render version %s", version_id)
                tracked.render_error = str(error)
                tracked.nodes = {
                    node["id"]: TrackedNode(node["id"], node.get("type", ""), [])
                    for node in version.nodes
                }
        self._remove_nodes(
            tracked.workflow_id, tracked.cluster_id, before - set(tracked.nodes)
        )
        self._dirty[tracked.cluster_id].add(tracked.workflow_id)

    def _untrack(self, workflow_id: str) -> None:
        """Forget a workflow that is gone or whose objects were removed."""
        tracked = self._tracked.pop(workflow_id)
        self._remove_nodes(workflow_id, tracked.cluster_id, set(tracked.nodes))
        for dirty in self._dirty.values():
            dirty.discard(workflow_id)

    def _remove_nodes(
        self, workflow_id: str, cluster_id: str, node_ids: set[str]
    ) -> None:
        """Delete the status of nodes no longer deployed, and say so."""
        watch = self._watches.get(cluster_id)
        if not node_ids or watch is None:
            return
        NodeStatus.objects.filter(
            workflow_id=workflow_id, node_id__in=node_ids
        ).delete()
        for node_id in sorted(node_ids):
            watch.last.pop((workflow_id, node_id), None)
            self.publisher.publish(
                live.group_for(workflow_id),
                live.message(
                    live.NODE_REMOVED, live.node_removed_data(workflow_id, node_id)
                ),
            )

    def _seed(self, tracked: TrackedWorkflow) -> None:
        """Remember the stored health of a workflow's nodes (no republish)."""
        watch = self._watches.get(tracked.cluster_id)
        if watch is None:
            return
        statuses = list(NodeStatus.objects.filter(workflow_id=tracked.workflow_id))
        for status in statuses:
            key = (tracked.workflow_id, status.node_id)
            watch.last[key] = _fingerprint(status.kind, status.health)
        # Rows of nodes the deployed version lost while nobody watched.
        stale = {status.node_id for status in statuses} - set(tracked.nodes)
        self._remove_nodes(tracked.workflow_id, tracked.cluster_id, stale)
        self._dirty[tracked.cluster_id].add(tracked.workflow_id)

    def _index_namespaces(self) -> None:
        """Map cluster → namespace → workflows with objects there."""
        index: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for workflow_id, tracked in self._tracked.items():
            for namespace in tracked.namespaces:
                index[tracked.cluster_id][namespace].add(workflow_id)
        self._by_namespace = index

    # -- leases -------------------------------------------------------------------

    def _manage_leases(self) -> None:
        """Hold the clusters of tracked workflows that nobody else holds."""
        wanted = {tracked.cluster_id for tracked in self._tracked.values()}
        for cluster_id in list(self._watches):
            if cluster_id not in wanted:
                self._drop_watch(cluster_id, release=True)
        for cluster_id in sorted(wanted):
            try:
                self._hold(cluster_id)
            except redis.RedisError as error:
                logger.warning("lease of cluster %s: %s", cluster_id, error)

    def _hold(self, cluster_id: str) -> None:
        """Renew a held lease when due, or try to take a free one."""
        watch = self._watches.get(cluster_id)
        now = time.monotonic()
        if watch is not None:
            if now >= watch.next_renewal:
                self._renew(watch)
            if cluster_id in self._watches:
                self._restart_if_changed(watch)
            return
        credentials = self._credentials.get(cluster_id)
        if cluster_id in self._unusable and self._unusable[cluster_id] == credentials:
            return  # its credentials did not work; wait until they change
        if self.leases.acquire(cluster_id):
            self._start_watch(cluster_id, now)

    def _renew(self, watch: ClusterWatch) -> bool:
        """Extend a lease; stop watching the cluster when it was lost."""
        asked = time.monotonic()
        try:
            renewed = self.leases.renew(watch.cluster_id)
        except redis.RedisError as error:
            logger.warning("could not renew lease of %s: %s", watch.cluster_id, error)
            renewed = asked < watch.lease_valid_until
            if not renewed:
                self._drop_watch(watch.cluster_id, release=False)
            return renewed
        if not renewed:
            logger.warning(
                "watcher %s lost the lease of cluster %s",
                self.replica_id,
                watch.cluster_id,
            )
            self._drop_watch(watch.cluster_id, release=False)
            return False
        watch.lease_valid_until = asked + self.lease_ttl
        watch.next_renewal = asked + self.lease_ttl / 3
        return True

    def _lease_holds(self, watch: ClusterWatch) -> bool:
        """Return True when publishing for the cluster is still ours to do."""
        margin = self.lease_ttl / 3
        if time.monotonic() < watch.lease_valid_until - margin:
            return True
        return self._renew(watch)

    def _start_watch(self, cluster_id: str, acquired_at: float) -> None:
        """Start watching a cluster whose lease was just taken."""
        cluster = Cluster.objects.filter(pk=cluster_id).first()
        if cluster is None:
            self.leases.release(cluster_id)
            return
        try:
            watch = ClusterWatch(cluster, self.inbox, self.options)
        except (CredentialsError, SealError) as error:
            logger.warning("cannot watch cluster %s: %s", cluster_id, error)
            self._unusable[cluster_id] = credentials_fingerprint(
                cluster.sealed_credentials
            )
            self.leases.release(cluster_id)
            return
        self._unusable.pop(cluster_id, None)
        watch.lease_valid_until = acquired_at + self.lease_ttl
        watch.next_renewal = acquired_at + self.lease_ttl / 3
        self._watches[cluster_id] = watch
        watch.start(self._kinds_for(cluster_id))
        for tracked in self._tracked.values():
            if tracked.cluster_id == cluster_id:
                self._seed(tracked)
        logger.info("watcher %s watches cluster %s", self.replica_id, cluster_id)

    def _restart_if_changed(self, watch: ClusterWatch) -> None:
        """Restart a cluster's streams when its credentials changed; add kinds."""
        credentials = self._credentials.get(watch.cluster_id)
        if credentials is not None and credentials != watch.credentials:
            logger.info("cluster %s changed: watching it again", watch.cluster_id)
            self._drop_watch(watch.cluster_id, release=False)
            self._start_watch(watch.cluster_id, time.monotonic())
            return
        watch.ensure_kinds(self._kinds_for(watch.cluster_id))

    def _kinds_for(self, cluster_id: str) -> list[WatchedKind]:
        """Return the built-in kinds plus custom kinds the workflows use."""
        custom = {
            (m["apiVersion"], m["kind"])
            for tracked in self._tracked.values()
            if tracked.cluster_id == cluster_id
            for node in tracked.nodes.values()
            for m in node.manifests
            if (api_group(m["apiVersion"]), m["kind"]) not in WATCHED_KEYS
        }
        extra = [WatchedKind(api_version, kind) for api_version, kind in sorted(custom)]
        return [*WATCHED_KINDS, *extra]

    def _drop_watch(self, cluster_id: str, *, release: bool) -> None:
        """Stop watching a cluster, releasing its lease when asked."""
        watch = self._watches.pop(cluster_id, None)
        if watch is None:
            return
        watch.stop()
        self._dirty.pop(cluster_id, None)
        if release:
            with contextlib.suppress(redis.RedisError):
                self.leases.release(cluster_id)
        logger.info(
            "watcher %s stopped watching cluster %s", self.replica_id, cluster_id
        )

    # -- events --------------------------------------------------------------------

    def _drain(self, wait: float) -> list[tuple[str, object]]:
        """Return the queued messages, waiting up to `wait` for the first."""
        try:
            messages = [
                self.inbox.get(timeout=wait) if wait > 0 else self.inbox.get_nowait()
            ]
        except queue.Empty:
            return []
        # Let the rest of a burst (one write moves many objects) arrive.
        deadline = time.monotonic() + self.batch_window
        while len(messages) < MAX_BATCH:
            remaining = deadline - time.monotonic()
            try:
                messages.append(
                    self.inbox.get(timeout=remaining)
                    if remaining > 0
                    else self.inbox.get_nowait()
                )
            except queue.Empty:
                break
        return messages

    def _take(self, cluster_id: str, message) -> None:
        """Apply one stream message to its cluster's cache and state."""
        watch = self._watches.get(cluster_id)
        if watch is None or message.session != watch.session:
            return  # from streams of a watch that was stopped
        if isinstance(message, Listed):
            self.lists_taken += 1
            touched = watch.cache.replace(message.kind, message.items)
            watch.listed.add(message.kind)
            self._recovered(watch, message.kind)
            self._touch(watch, touched)
        elif isinstance(message, Changed):
            self._touch(
                watch, watch.cache.apply(message.kind, message.event_type, message.obj)
            )
        elif isinstance(message, Failed):
            watch.failed[message.kind] = message.message
            if message.unreachable:
                watch.unreachable_since.setdefault(message.kind, time.monotonic())
        elif isinstance(message, Recovered):
            self._recovered(watch, message.kind)
        if watch.ready and not watch.was_ready:
            watch.was_ready = True
            self._dirty_all(watch.cluster_id)

    def _recovered(self, watch: ClusterWatch, kind: tuple[str, str]) -> None:
        """Clear a kind's failure; judge everything again once all answer."""
        watch.failed.pop(kind, None)
        watch.unreachable_since.pop(kind, None)
        if watch.marked_unreachable and not watch.unreachable_since:
            watch.marked_unreachable = False
            logger.info("cluster %s answers again", watch.cluster_id)
            self._dirty_all(watch.cluster_id)

    def _touch(self, watch: ClusterWatch, objects: list[dict]) -> None:
        """Mark dirty the workflows the changed objects may matter to."""
        for obj in objects:
            self._dirty[watch.cluster_id] |= self._workflows_of(watch, obj)

    def _workflows_of(self, watch: ClusterWatch, obj: dict) -> set[str]:
        """Return the tracked workflows an object may change the health of."""
        if obj.get("kind") == "Event":
            subject = obj.get("involvedObject") or {}
            known = watch.cache.by_uid(subject.get("uid"))
            obj = known or {"metadata": {"namespace": subject.get("namespace")}}
        meta = obj.get("metadata") or {}
        workflow_id = (meta.get("labels") or {}).get(WORKFLOW_LABEL)
        if workflow_id:
            tracked = self._tracked.get(workflow_id)
            on_cluster = tracked is not None and tracked.cluster_id == watch.cluster_id
            return {workflow_id} if on_cluster else set()
        namespaces = self._by_namespace.get(watch.cluster_id, {})
        namespace = meta.get("namespace") or ""
        if namespace:
            return set(namespaces.get(namespace, ()))
        return {w for ids in namespaces.values() for w in ids}

    def _dirty_all(self, cluster_id: str) -> None:
        for workflow_id, tracked in self._tracked.items():
            if tracked.cluster_id == cluster_id:
                self._dirty[cluster_id].add(workflow_id)

    def _check_reachability(self) -> None:
        """Mark a cluster's nodes unknown once it has not answered for long."""
        now = time.monotonic()
        for watch in self._watches.values():
            silent = watch.unreachable_for(now)
            if (
                watch.marked_unreachable
                or not silent
                or silent < self.unreachable_after
            ):
                continue
            watch.marked_unreachable = True
            logger.warning(
                "cluster %s has not answered for %.0f s", watch.cluster_id, silent
            )
            self._dirty_all(watch.cluster_id)

    # -- judging and publishing -------------------------------------------------------

    def _judge_dirty(self) -> None:
        """Judge the nodes of dirty workflows; store and publish the changes."""
        for cluster_id in list(self._dirty):
            watch = self._watches.get(cluster_id)
            if watch is None:
                self._dirty.pop(cluster_id, None)
                continue
            if not (watch.ready or watch.marked_unreachable):
                continue
            workflow_ids = self._dirty.pop(cluster_id) & set(self._tracked)
            changes = self._judge(watch, workflow_ids)
            if changes and self._lease_holds(watch):
                self._store_and_publish(watch, changes)

    def _judge(self, watch: ClusterWatch, workflow_ids: set[str]) -> list:
        """Return (workflow, node, health) for each node whose health changed."""
        workflows = [self._tracked[w] for w in sorted(workflow_ids)]
        namespaces = {ns for tracked in workflows for ns in tracked.namespaces}
        view = SnapshotView(watch.cache.objects_in(namespaces))
        now = self.clock()
        changes = []
        for tracked in workflows:
            for node in tracked.nodes.values():
                health = self._node_health(watch, tracked, node, view, now)
                fingerprint = _fingerprint(node.kind, health.as_dict())
                if watch.last.get((tracked.workflow_id, node.node_id)) != fingerprint:
                    changes.append((tracked, node, health, fingerprint))
        return changes

    def _node_health(self, watch, tracked, node, view, now) -> Health:
        """Judge one node, or say why it cannot be judged."""
        if watch.marked_unreachable:
            reasons = sorted(set(watch.failed.values()))
            reason = reasons[0] if reasons else "no answer"
            return Health(HealthState.UNKNOWN, f"cannot reach the cluster: {reason}")
        if tracked.render_error:
            return Health(
                HealthState.UNKNOWN,
                f"cannot render the deployed version: {tracked.render_error}",
            )
        for manifest in node.manifests:
            key = (api_group(manifest["apiVersion"]), manifest["kind"])
            if key in watch.failed and key not in watch.listed:
                return Health(
                    HealthState.UNKNOWN,
                    f"cannot list {manifest['kind']}: {watch.failed[key]}",
                )
        return assess_node(node.manifests, view, now, ingress_grace=self.ingress_grace)

    def _store_and_publish(self, watch: ClusterWatch, changes: list) -> None:
        """Write the changed NodeStatus rows, then publish them."""
        rows = [self._status_row(t, n, h) for t, n, h, _ in changes]
        try:
            # One upsert: a previous lease holder may have written the row.
            NodeStatus.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["workflow", "node_id"],
                update_fields=STATUS_FIELDS,
            )
        except DatabaseError as error:
            logger.warning("could not store node health: %s", error)
            for tracked, *_ in changes:
                self._dirty[watch.cluster_id].add(tracked.workflow_id)
            return
        for row, (tracked, node, _, fingerprint) in zip(rows, changes, strict=True):
            watch.last[(tracked.workflow_id, node.node_id)] = fingerprint
            self.publisher.publish(
                live.group_for(tracked.workflow_id),
                live.message(live.NODE_STATUS, live.node_status_data(row)),
            )
        self.published_changes += len(rows)

    @staticmethod
    def _status_row(tracked, node, health: Health) -> NodeStatus:
        """Return the NodeStatus row of one node's new health."""
        now = timezone.now()
        return NodeStatus(
            workflow_id=tracked.workflow_id,
            node_id=node.node_id,
            kind=node.kind,
            state=health.state.value,
            message=health.message[:5000],
            ready=health.ready,
            desired=health.desired,
            health=health.as_dict(),
            observed_at=now,
            updated_at=now,
        )


STATUS_FIELDS = [
    "kind",
    "state",
    "message",
    "ready",
    "desired",
    "health",
    "observed_at",
    "updated_at",
]


def _tracked_rows():
    """Return every workflow that may have objects, with its latest run."""
    # TODO(deployed-version): the latest run's version is taken as deployed,
    # even when that run was refused before applying anything (lint errors);
    # its nodes then show missing while the previous version's objects live.
    latest = Run.objects.filter(workflow=OuterRef("pk")).order_by("-started_at")
    removed = Q(state=Workflow.State.ARCHIVED, cleanup_state=Workflow.Cleanup.DONE)
    return (
        Workflow.objects.exclude(removed)
        .annotate(
            run_id=Subquery(latest.values("pk")[:1]),
            run_status=Subquery(latest.values("status")[:1]),
            run_version_id=Subquery(latest.values("version_id")[:1]),
        )
        .values(
            "pk",
            "cluster_id",
            "cluster__sealed_credentials",
            "namespace",
            "run_id",
            "run_status",
            "run_version_id",
        )
    )
