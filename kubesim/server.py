"""The HTTP front: the Kubernetes REST protocol over a threaded HTTP/1.1 server."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from . import apply as ssa
from . import discovery, errors, protobuf, validation
from . import exec as pod_exec
from . import resources as r
from .clock import format_time, parse_time
from .resources import ResourceType
from .selectors import (
    FieldSelector,
    format_label_selector,
    parse_field_selector,
    parse_label_selector,
)
from .store import Store, clone
from .watch import WatchRequest, WatchStream

logger = logging.getLogger(__name__)

JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Metadata a client may not set on create; the server owns it.
_CLIENT_IGNORED_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
)


# Kinds whose DELETE answers with the deleted object rather than a Status.
_RETURNS_DELETED_OBJECT = {
    r.POD.key,
    r.PVC.key,
    r.PV.key,
    r.SERVICE.key,
    r.SERVICEACCOUNT.key,
    r.RESOURCEQUOTA.key,
    r.STORAGECLASS.key,
}


@dataclass
class Request:
    """One HTTP request as the API layer sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """Return the last value of a query parameter."""
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        """Return whether a boolean query parameter is true."""
        return (self.param(name) or "").lower() in ("true", "1")

    @property
    def content_type(self) -> str:
        """Return the media type of the body, without parameters."""
        return self.headers.get("content-type", JSON).split(";", 1)[0].strip().lower()

    @property
    def wants_table(self) -> bool:
        """Return whether the client asked for a meta.k8s.io Table (kubectl get)."""
        return "as=table" in self.headers.get("accept", "").lower()

    @property
    def dry_run(self) -> bool:
        """Return whether the request is dryRun=All."""
        return "All" in self.query.get("dryRun", [])


@dataclass
class ResourcePath:
    """A parsed resource URL."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    watch: bool = False


@dataclass
class ServerHooks:
    """What the API layer calls outside itself."""

    after_write: object = None  # callable(): settle controllers (instant mode)
    log_lines: object = None  # callable(pod, container, previous) -> [(dt, text)]
    control: object = None  # has settle(), advance(seconds), reset()


class RequestStats:
    """Counts requests and the time spent answering them (streams excluded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.seconds = 0.0
        self.streams = 0

    def record(self, method: str, seconds: float, *, streaming: bool) -> None:
        """Add one answered request."""
        with self._lock:
            if streaming:
                self.streams += 1
                return
            self.requests += 1
            self.seconds += seconds

    def snapshot(self) -> tuple[int, float]:
        """Return (requests, seconds) so far."""
        with self._lock:
            return self.requests, self.seconds


class ApiServer:
    """Every Kubernetes verb over the store, independent of the socket layer."""

    def __init__(
        self,
        store: Store,
        *,
        token: str | None = None,
        hooks: ServerHooks | None = None,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.store = store
        self.clock = store.clock
        self.token = token
        self.hooks = hooks or ServerHooks()
        self.bookmark_interval = bookmark_interval
        self.stopping = threading.Event()
        self.address = "127.0.0.1:0"
        self._custom: dict[tuple[str, str], dict] = {}
        self.stats = RequestStats()
        self.exec_sessions = pod_exec.ExecSessions()
        store.add_listener(self._on_change, copy=False)

    # ----- entry point

    def handle(self, request: Request, out) -> None:
        """Answer one request through ``out`` (a response writer)."""
        try:
            self._authenticate(request)
            self._route(request, out)
        except errors.ApiError as error:
            out.send_json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as exc:  # answer a Status, never a bare 500 page
            logger.exception("kubesim failed on %s %s", request.method, request.path)
            failure = errors.ApiError(500, "InternalError", f"internal error: {exc}")
            out.send_json(500, failure.status())

    def _authenticate(self, request: Request) -> None:
        if self.token is None or request.path == "/_kubesim/healthz":
            return
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.token}":
            raise errors.ApiError(401, "Unauthorized", "Unauthorized")

    def _route(self, request: Request, out) -> None:
        path = request.path
        if path in ("/version", "/version/"):
            out.send_json(200, discovery.version_info())
            return
        if path.startswith("/_kubesim/"):
            self._control(request, out)
            return
        if path.rstrip("/") in ("/healthz", "/livez", "/readyz") or path.startswith(
            ("/healthz/", "/livez/", "/readyz/")
        ):
            out.send_text(200, "ok")
            return
        if path.startswith("/openapi/"):
            self._openapi(path, out)
            return
        parts = [p for p in path.split("/") if p]
        if not parts:
            out.send_json(200, {"paths": ["/api", "/api/v1", "/apis", "/version"]})
            return
        self._route_api(request, out, parts)

    def _openapi(self, path: str, out) -> None:
        # Only v3 paths: enough for kubectl to see that the server validates
        # fields itself (fieldValidation), so it never needs schemas.
        registry = self.store.registry
        parts = [p for p in path.split("/") if p][2:]
        if path.rstrip("/") == "/openapi/v3":
            out.send_json(200, discovery.openapi_v3_root(registry))
            return
        if parts[:1] == ["api"] and len(parts) == 2:
            out.send_json(
                200, _found(discovery.openapi_v3_group(registry, "", parts[1]))
            )
            return
        if parts[:1] == ["apis"] and len(parts) == 3:
            document = discovery.openapi_v3_group(registry, parts[1], parts[2])
            out.send_json(200, _found(document))
            return
        raise _unknown_path()

    def _route_api(self, request: Request, out, parts: list[str]) -> None:
        registry = self.store.registry
        if parts[0] == "api":
            if len(parts) == 1:
                out.send_json(200, discovery.api_versions(self.address))
                return
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                out.send_json(200, discovery.api_group_list(registry))
                return
            if len(parts) == 2:
                out.send_json(200, _found(discovery.api_group(registry, parts[1])))
                return
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _unknown_path()
        if not rest:
            out.send_json(
                200, _found(discovery.api_resource_list(registry, group, version))
            )
            return
        self._resource(request, out, _parse_resource_path(group, version, rest))

    # ----- resources

    def _resource(self, request: Request, out, where: ResourcePath) -> None:
        if where.plural == "pods" and where.subresource in pod_exec.SUBRESOURCES:
            pod_exec.serve(self, request, out, where.namespace, where.name)
            return
        rt = self._type(where)
        method = request.method
        # TODO(strict-fields): fieldValidation=Strict is accepted, but unknown
        # fields of built-in kinds go unreported: there are no built-in schemas.
        for value in request.query.get("dryRun", []):
            if value != "All":
                raise errors.bad_request(
                    f'dryRun: Unsupported value: "{value}": supported values: "All"'
                )
        if where.subresource:
            self._subresource(request, out, rt, where)
            return
        if where.name is None:
            self._collection(request, out, rt, where)
            return
        if method == "GET" and where.watch:
            self._watch(request, out, rt, where.namespace, where.name)
        elif method == "GET":
            self._get_one(request, out, rt, where)
        elif method == "PUT":
            self._respond_write(request, out, *self._replace(request, rt, where))
        elif method == "PATCH":
            self._respond_write(request, out, *self._patch(request, rt, where))
        elif method == "DELETE":
            self._respond_write(request, out, *self._delete(request, rt, where))
        else:
            raise errors.method_not_allowed()

    def _collection(self, request: Request, out, rt: ResourceType, where: ResourcePath):
        method = request.method
        if method == "GET" and (where.watch or request.flag("watch")):
            self._watch(request, out, rt, where.namespace, None)
        elif method == "GET":
            self._list(request, out, rt, where.namespace)
        elif method == "POST":
            if rt.namespaced and not where.namespace:
                raise errors.method_not_allowed(
                    "the server does not allow this method on the requested resource"
                )
            self._respond_write(
                request, out, *self._create(request, rt, where.namespace)
            )
        elif method == "DELETE":
            self._respond_write(
                request, out, *self._delete_collection(request, rt, where)
            )
        else:
            raise errors.method_not_allowed()

    def _type(self, where: ResourcePath) -> ResourceType:
        try:
            rt = self.store.registry.by_plural(where.group, where.version, where.plural)
        except KeyError:
            raise _unknown_path() from None
        if where.namespace and not rt.namespaced:
            raise _unknown_path()
        if where.subresource and where.subresource not in rt.subresources:
            raise _unknown_path()
        return rt

    def _respond_write(self, request: Request, out, code: int, document: dict) -> None:
        if not request.dry_run:
            self._after_write()
        out.send_json(code, document)

    def _after_write(self) -> None:
        hook = self.hooks.after_write
        if hook is None:
            return
        try:
            hook()
        except Exception:
            logger.exception("settling the controllers failed")

    def _get(self, rt: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self.store.get(rt, namespace, name)
        if obj is None:
            raise errors.not_found(rt, name)
        return obj

    def _get_one(self, request: Request, out, rt: ResourceType, where: ResourcePath):
        obj = self._get(rt, where.namespace, where.name)
        if request.wants_table:
            obj = discovery.table(
                rt,
                [obj],
                self.clock.time(),
                include_object=request.param("includeObject", "Metadata"),
                resource_version=obj["metadata"]["resourceVersion"],
                printer_columns=self._printer_columns(rt),
            )
        out.send_json(200, obj)

    def _selectors(self, request: Request, rt: ResourceType):
        try:
            labels = parse_label_selector(request.param("labelSelector"))
            fields = parse_field_selector(request.param("fieldSelector"))
            fields.check_supported(rt.group, rt.kind)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        return labels, fields

    def _list(
        self, request: Request, out, rt: ResourceType, namespace: str | None
    ) -> None:
        labels, fields = self._selectors(request, rt)
        items, rv = self.store.list_with_version(rt, namespace, labels, fields)
        items, continue_token, remaining = _paginate(request, items, rv)
        if request.wants_table:
            document = discovery.table(
                rt,
                items,
                self.clock.time(),
                include_object=request.param("includeObject", "Metadata"),
                resource_version=str(rv),
                printer_columns=self._printer_columns(rt),
            )
            if continue_token:
                document["metadata"]["continue"] = continue_token
            out.send_json(200, document)
            return
        metadata = {"resourceVersion": str(rv)}
        if continue_token:
            metadata["continue"] = continue_token
            metadata["remainingItemCount"] = remaining
        list_kind = self._custom.get(rt.key, {}).get("listKind") or f"{rt.kind}List"
        out.send_json(
            200,
            {
                "kind": list_kind,
                "apiVersion": rt.api_version,
                "metadata": metadata,
                "items": items,
            },
        )

    # ----- watch

    def _watch(self, request, out, rt, namespace, name) -> None:
        labels, fields = self._selectors(request, rt)
        if name is not None:
            fields = FieldSelector(
                fields.requirements
                + parse_field_selector(f"metadata.name={name}").requirements
            )
        timeout = request.param("timeoutSeconds")
        if timeout is not None and not timeout.isdigit():
            raise errors.bad_request(f"invalid timeoutSeconds {timeout!r}")
        watch_request = WatchRequest(
            rt=rt,
            namespace=namespace,
            labels=labels,
            fields=fields,
            resource_version=request.param("resourceVersion"),
            timeout=float(timeout) if timeout else None,
            bookmarks=request.flag("allowWatchBookmarks"),
            bookmark_interval=self.bookmark_interval,
            send_initial_events=request.flag("sendInitialEvents") or None,
        )
        sink = _EventSink(out, rt, request.wants_table, self)
        out.start_stream(JSON)
        try:
            WatchStream(self.store, watch_request, sink, self.stopping).run()
        except (BrokenPipeError, ConnectionResetError, OSError):
            out.close_connection = True
            return
        out.end_stream()

    # ----- create

    def _create(self, request: Request, rt: ResourceType, namespace: str | None):
        body = self._body_object(request, rt)
        meta = body["metadata"]
        self._check_namespace(rt, meta, namespace)
        for name in _CLIENT_IGNORED_METADATA:
            meta.pop(name, None)
        request_fields = ssa.field_set(body, self._schema(rt))
        with self.store.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self.store.generate_name(
                    rt, namespace, meta["generateName"]
                )
            if meta.get("name") and self.store.get(rt, namespace, meta["name"]):
                raise errors.already_exists(rt, meta["name"])
            self._prepare_new(rt, body)
            self._admit(rt, body, None)
            ssa.write_managers(body, [self._update_entry(request, rt, request_fields)])
            return 201, self._store_new(request, rt, body)

    def _prepare_new(self, rt: ResourceType, body: dict) -> None:
        if rt.has_status:
            body.pop("status", None)
            initial = _initial_status(rt, body)
            if initial is not None:
                body["status"] = initial
        if rt.key == r.JOB.key:
            body["metadata"]["uid"] = str(uuid.uuid4())

    def _store_new(self, request: Request, rt: ResourceType, body: dict) -> dict:
        uid = body["metadata"].pop("uid", None)
        if request.dry_run:
            return self._dry_created(rt, body, uid)
        created = self.store.create(rt, body, uid=uid)
        if rt.key == r.CRD.key:
            created = self._establish_crd(created)
        return created

    def _dry_created(self, rt: ResourceType, body: dict, uid: str | None) -> dict:
        namespace = body["metadata"].get("namespace")
        if rt.namespaced and self.store.namespace_phase(namespace) is None:
            raise errors.ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces"},
            )
        result = {"apiVersion": rt.api_version, "kind": rt.kind, **clone(body)}
        meta = result["metadata"]
        meta["uid"] = uid or str(uuid.uuid4())
        meta["creationTimestamp"] = self.clock.stamp()
        if rt.has_generation:
            meta["generation"] = 1
        return result

    def _establish_crd(self, crd: dict) -> dict:
        names = (crd.get("spec") or {}).get("names") or {}
        now = self.clock.stamp()
        status = {
            "acceptedNames": names,
            "conditions": [
                _condition("NamesAccepted", "NoConflicts", "no conflicts found", now),
                _condition(
                    "Established",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                ),
            ],
            "storedVersions": [
                v["name"]
                for v in (crd.get("spec") or {}).get("versions") or []
                if v.get("storage")
            ],
        }
        updated = self.store.set_status(r.CRD, None, crd["metadata"]["name"], status)
        return updated or crd

    # ----- replace

    def _replace(self, request: Request, rt: ResourceType, where: ResourcePath):
        body = self._body_object(request, rt)
        meta = body["metadata"]
        self._check_name(meta, where.name)
        self._check_namespace(rt, meta, where.namespace)
        with self.store.lock:
            live = self._get(rt, where.namespace, where.name)
            self._check_rv(rt, meta, live)
            if rt.has_status:
                _keep_status(body, live)
            self._carry_metadata(body, live)
            self._admit(rt, body, live)
            self._record_update(request, rt, live, body)
            return 200, self._store_update(request, rt, body, live)

    def _store_update(self, request: Request, rt: ResourceType, new: dict, live: dict):
        if request.dry_run:
            return _dry_updated(rt, new, live)
        return self.store.update(rt, new, check_rv=True)

    def _carry_metadata(self, new: dict, live: dict) -> None:
        meta, old = new["metadata"], live["metadata"]
        meta["resourceVersion"] = meta.get("resourceVersion") or old["resourceVersion"]
        for name in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if name in old:
                meta[name] = old[name]
            else:
                meta.pop(name, None)

    # ----- patch and apply

    def _patch(self, request: Request, rt: ResourceType, where: ResourcePath):
        if request.content_type == APPLY_PATCH:
            return self._apply(request, rt, where)
        patch = _parse_json(request.body)
        with self.store.lock:
            live = self._get(rt, where.namespace, where.name)
            patched = self._patched(request, rt, live, patch)
            meta = patched.setdefault("metadata", {})
            meta["name"], meta["uid"] = (
                live["metadata"]["name"],
                live["metadata"]["uid"],
            )
            if rt.namespaced:
                meta["namespace"] = live["metadata"]["namespace"]
            if rt.has_status:
                _keep_status(patched, live)
            self._carry_metadata(patched, live)
            self._admit(rt, patched, live)
            self._record_update(request, rt, live, patched)
            return 200, self._store_update(request, rt, patched, live)

    def _patched(self, request: Request, rt: ResourceType, live: dict, patch) -> dict:
        kind = request.content_type
        if kind == JSON_PATCH:
            return ssa.json_patch(live, patch)
        if kind == MERGE_PATCH:
            if not isinstance(patch, dict):
                raise errors.bad_request("merge patch must be a JSON object")
            return ssa.merge_patch(live, patch)
        if kind == STRATEGIC_PATCH:
            if rt.key in self._custom:
                raise errors.unsupported_media_type(kind)
            return ssa.strategic_merge_patch(live, patch, self._schema(rt))
        raise errors.unsupported_media_type(kind)

    def _apply(self, request: Request, rt: ResourceType, where: ResourcePath):
        manager = request.param("fieldManager")
        if not manager:
            raise errors.bad_request(
                "PATCH "
                + request.path
                + ": fieldManager is required for apply requests"
            )
        applied = _drop_nulls(self._body_object(request, rt, parse_yaml=True))
        meta = applied["metadata"]
        self._check_name(meta, where.name)
        self._check_namespace(rt, meta, where.namespace)
        with self.store.lock:
            live = self.store.get(rt, where.namespace, where.name)
            if live is not None:
                self._check_rv(rt, meta, live)
            merged = ssa.server_side_apply(
                rt,
                live,
                applied,
                manager=manager,
                force=request.flag("force"),
                stamp=self.clock.stamp(),
                schema=self._schema(rt),
            )
            if live is None:
                return 201, self._create_applied(request, rt, merged)
            if rt.has_status:
                _keep_status(merged, live)
            self._admit(rt, merged, live)
            return 200, self._store_update(request, rt, merged, live)

    def _create_applied(self, request: Request, rt: ResourceType, merged: dict) -> dict:
        meta = merged["metadata"]
        for name in _CLIENT_IGNORED_METADATA:
            if name != "managedFields":
                meta.pop(name, None)
        self._prepare_new(rt, merged)
        self._admit(rt, merged, None)
        return self._store_new(request, rt, merged)

    def _record_update(self, request, rt, live, new, subresource=None) -> None:
        ssa.record_update(
            rt,
            live,
            new,
            manager=self._manager(request),
            stamp=self.clock.stamp(),
            schema=self._schema(rt),
            subresource=subresource,
        )

    def _manager(self, request: Request) -> str:
        return request.param("fieldManager") or ssa.manager_from_user_agent(
            request.headers.get("user-agent")
        )

    def _update_entry(self, request: Request, rt: ResourceType, fields: set) -> dict:
        return {
            "manager": self._manager(request),
            "operation": "Update",
            "apiVersion": rt.api_version,
            "time": self.clock.stamp(),
            "_fields": fields,
        }

    # ----- delete

    def _delete_options(self, request: Request) -> dict:
        options = _parse_json(request.body) if request.body.strip() else {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        policy = request.param("propagationPolicy") or options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        if "All" in (options.get("dryRun") or []):
            request.query.setdefault("dryRun", []).append("All")
        return {
            "propagation": policy or "Background",
            "preconditions": options.get("preconditions") or {},
        }

    def _delete(self, request: Request, rt: ResourceType, where: ResourcePath):
        options = self._delete_options(request)
        if rt.key == r.NAMESPACE.key and where.name in validation.PROTECTED_NAMESPACES:
            raise errors.forbidden(
                rt,
                where.name,
                f'namespaces "{where.name}" is forbidden: '
                "this namespace may not be deleted",
            )
        with self.store.lock:
            live = self._get(rt, where.namespace, where.name)
            if request.dry_run:
                self.store.check_preconditions(rt, live, options["preconditions"])
                return 200, live
            result = self.store.delete(
                rt,
                where.namespace,
                where.name,
                options["propagation"],
                preconditions=options["preconditions"],
            )
            still_there = self.store.get(rt, where.namespace, where.name)
        if still_there is not None:
            return 200, still_there
        if rt.key in _RETURNS_DELETED_OBJECT:
            gone = clone(result or live)
            gone["metadata"].setdefault("deletionTimestamp", self.clock.stamp())
            return 200, gone
        return 200, _success_status(rt, result or live)

    def _delete_collection(
        self, request: Request, rt: ResourceType, where: ResourcePath
    ):
        options = self._delete_options(request)
        labels, fields = self._selectors(request, rt)
        with self.store.lock:
            items = self.store.list(rt, where.namespace, labels, fields)
            if not request.dry_run:
                for item in items:
                    self.store.delete(
                        rt,
                        item["metadata"].get("namespace"),
                        item["metadata"]["name"],
                        options["propagation"],
                    )
            rv = self.store.resource_version()
        return 200, {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": rv},
            "items": items,
        }

    # ----- subresources

    def _subresource(
        self, request: Request, out, rt: ResourceType, where: ResourcePath
    ):
        sub, method = where.subresource, request.method
        if sub == "log" and method == "GET":
            self._pod_log(request, out, where)
        elif sub == "status" and method == "GET":
            out.send_json(200, self._get(rt, where.namespace, where.name))
        elif sub == "status" and method in ("PUT", "PATCH"):
            self._respond_write(request, out, *self._write_status(request, rt, where))
        elif sub == "scale" and method == "GET":
            out.send_json(
                200, _scale_of(rt, self._get(rt, where.namespace, where.name))
            )
        elif sub == "scale" and method in ("PUT", "PATCH"):
            self._respond_write(request, out, *self._write_scale(request, rt, where))
        else:
            raise errors.method_not_allowed()

    def _write_status(self, request: Request, rt: ResourceType, where: ResourcePath):
        with self.store.lock:
            live = self._get(rt, where.namespace, where.name)
            if request.method == "PUT":
                body = self._body_object(request, rt)
                self._check_name(body["metadata"], where.name)
                self._check_rv(rt, body["metadata"], live)
                new_status = body.get("status") or {}
            elif request.content_type == APPLY_PATCH:
                # TODO(ssa-status): apply to /status merges without tracking owners.
                applied = _drop_nulls(self._body_object(request, rt, parse_yaml=True))
                new_status = ssa.merge_applied(
                    live.get("status") or {},
                    applied.get("status") or {},
                    ("status",),
                    self._schema(rt),
                )
            else:
                patched = self._patched(request, rt, live, _parse_json(request.body))
                self._check_rv(rt, patched.get("metadata") or {}, live)
                new_status = patched.get("status") or {}
            new = clone(live)
            new["status"] = new_status
            self._record_update(request, rt, live, new, subresource="status")
            if request.dry_run:
                return 200, new
            return 200, self.store.replace_status(rt, new)

    def _write_scale(self, request: Request, rt: ResourceType, where: ResourcePath):
        with self.store.lock:
            live = self._get(rt, where.namespace, where.name)
            current = _scale_of(rt, live)
            if request.method == "PUT":
                scale = _parse_json(request.body)
            elif request.content_type == APPLY_PATCH:
                raise errors.unsupported_media_type(APPLY_PATCH)
            else:
                scale = self._patched(request, rt, current, _parse_json(request.body))
            if not isinstance(scale, dict):
                raise errors.bad_request("the body must be a Scale object")
            self._check_rv(rt, scale.get("metadata") or {}, live)
            replicas = (scale.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.ApiError(
                    422,
                    "Invalid",
                    f'Scale.autoscaling "{where.name}" is invalid: spec.replicas: '
                    f"Invalid value: {replicas}: must be greater than or equal to 0",
                    [
                        errors.cause(
                            "spec.replicas", "must be greater than or equal to 0"
                        )
                    ],
                    details={
                        "name": where.name,
                        "group": "autoscaling",
                        "kind": "Scale",
                    },
                )
            new = clone(live)
            new.setdefault("spec", {})["replicas"] = replicas
            self._record_update(request, rt, live, new)
            result = new if request.dry_run else self.store.update(rt, new)
            return 200, _scale_of(rt, result)

    # ----- pod logs

    def _pod_log(self, request: Request, out, where: ResourcePath) -> None:
        pod = self._get(r.POD, where.namespace, where.name)
        container = self._log_container(request, pod)
        previous = request.flag("previous")
        _check_log_state(pod, container, previous)
        lines = self._filtered_lines(request, pod, container, previous)
        if not request.flag("follow"):
            out.send_text(200, "".join(lines))
            return
        out.start_stream("text/plain")
        try:
            self._follow_log(request, out, pod, container, lines)
        except (BrokenPipeError, ConnectionResetError, OSError):
            out.close_connection = True
            return
        out.end_stream()

    def _log_container(self, request: Request, pod: dict) -> str:
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        name = request.param("container")
        pod_name = pod["metadata"]["name"]
        if not name:
            default = (pod["metadata"].get("annotations") or {}).get(
                "kubectl.kubernetes.io/default-container"
            )
            if default in names or len(names) == 1:
                return default if default in names else names[0]
            raise errors.bad_request(
                f"a container name must be specified for pod {pod_name}, "
                f"choose one of: [{' '.join(names)}]"
            )
        if name not in names + init_names:
            raise errors.bad_request(
                f"container {name} is not valid for pod {pod_name}"
            )
        return name

    def _raw_lines(self, pod: dict, container: str, previous: bool) -> list:
        source = self.hooks.log_lines
        if source is None:
            return []
        return list(source(pod, container, previous) or [])

    def _filtered_lines(self, request, pod, container, previous) -> list[str]:
        entries = self._raw_lines(pod, container, previous)
        since = request.param("sinceSeconds")
        since_time = request.param("sinceTime")
        cutoff = None
        if since:
            cutoff = self.clock.time() - int(since)
        elif since_time:
            cutoff = parse_time(since_time).timestamp()
        if cutoff is not None:
            entries = [e for e in entries if e[0].timestamp() >= cutoff]
        tail = request.param("tailLines")
        if tail is not None:
            entries = entries[-int(tail) :] if int(tail) > 0 else []
        lines = [_format_log_line(e, request.flag("timestamps")) for e in entries]
        limit = request.param("limitBytes")
        if limit:
            text = "".join(lines).encode()[: int(limit)].decode(errors="ignore")
            return [text]
        return lines

    def _follow_log(self, request, out, pod, container, first_lines) -> None:
        for line in first_lines:
            out.write_chunk(line.encode())
        sent = len(self._raw_lines(pod, container, False))
        namespace, name, uid = (
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            pod["metadata"]["uid"],
        )
        while not self.stopping.is_set() and not out.peer_gone():
            current = self.store.get(r.POD, namespace, name)
            if current is None or current["metadata"]["uid"] != uid:
                return
            entries = self._raw_lines(current, container, False)
            for entry in entries[sent:]:
                out.write_chunk(
                    _format_log_line(entry, request.flag("timestamps")).encode()
                )
            sent = max(sent, len(entries))
            if _container_finished(current, container):
                return
            self.store.wait_for_change(
                int(self.store.resource_version()), self.store.epoch, 0.25
            )

    # ----- control endpoints

    def _control(self, request: Request, out) -> None:
        action = request.path[len("/_kubesim/") :].strip("/")
        control = self.hooks.control
        if action == "healthz":
            out.send_text(200, "ok")
            return
        if action == "exec-sessions" and request.method == "GET":
            out.send_json(200, {"sessions": self.exec_sessions.list()})
            return
        if request.method != "POST" or control is None:
            raise errors.method_not_allowed("control endpoints take POST")
        if action == "settle":
            control.settle()
        elif action == "advance":
            control.advance(float(request.param("seconds", "0")))
        elif action == "reset":
            control.reset()
        elif action == "watch-history":
            self.store.set_watch_history(int(request.param("size", "10000")))
        else:
            raise _unknown_path()
        out.send_json(
            200,
            {
                "status": "ok",
                "clockOffset": self.clock.offset,
                "resourceVersion": self.store.resource_version(),
            },
        )

    # ----- bodies, names, admission

    def _body_object(
        self, request: Request, rt: ResourceType, parse_yaml=False
    ) -> dict:
        if "protobuf" in request.content_type:
            body = _parse_protobuf(request.body)
        elif "cbor" in request.content_type:
            raise errors.unsupported_media_type(request.content_type)
        elif parse_yaml or "yaml" in request.content_type:
            body = _parse_yaml(request.body)
        else:
            body = _parse_json(request.body)
        return self._checked_body(body, rt, parse_yaml)

    def _checked_body(self, body, rt: ResourceType, parse_yaml: bool) -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be an object")
        if parse_yaml and not body.get("kind"):
            raise errors.bad_request(f"Object 'Kind' is missing in '{_preview(body)}'")
        # Like the real decoder, a missing kind or apiVersion defaults from the URL.
        body.setdefault("kind", rt.kind)
        body.setdefault("apiVersion", rt.api_version)
        if body.get("kind") != rt.kind or body.get("apiVersion") != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not "
                f"match the expected API version ({rt.api_version}) or the kind "
                f"({body.get('kind')}) does not match {rt.kind}"
            )
        if not isinstance(body.setdefault("metadata", {}), dict):
            raise errors.bad_request("metadata must be an object")
        return body

    def _check_namespace(
        self, rt: ResourceType, meta: dict, namespace: str | None
    ) -> None:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace "
                "sent on the request"
            )
        meta["namespace"] = namespace

    def _check_name(self, meta: dict, name: str) -> None:
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name "
                f"on the URL ({name})"
            )
        meta["name"] = name

    def _check_rv(self, rt: ResourceType, meta: dict, live: dict) -> None:
        wanted = meta.get("resourceVersion")
        if wanted and wanted != live["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rt,
                live["metadata"]["name"],
                "the object has been modified; please apply your changes to the latest "
                "version and try again",
            )

    def _admit(self, rt: ResourceType, obj: dict, old: dict | None) -> None:
        validation.admit(self.store, rt, obj, old)
        custom = self._custom.get(rt.key)
        if custom is not None:
            schema = custom["schemas"].get(rt.version)
            causes = validation.Causes()
            validation.validate_custom(obj, schema, causes, has_status=rt.has_status)
            causes.raise_if_any(rt, obj["metadata"].get("name", ""))

    def _schema(self, rt: ResourceType) -> ssa.Schema:
        custom = self._custom.get(rt.key)
        if custom is None:
            return ssa.Schema(rt.kind)
        return ssa.Schema(rt.kind, custom["schemas"].get(rt.version) or {})

    def _printer_columns(self, rt: ResourceType) -> list[dict] | None:
        custom = self._custom.get(rt.key)
        return custom["columns"].get(rt.version) if custom else None

    # ----- CRDs

    def _on_change(self, event_type: str, rt: ResourceType, obj: dict) -> None:
        if rt.key != r.CRD.key:
            return
        spec = obj.get("spec") or {}
        group, plural = (
            spec.get("group", ""),
            (spec.get("names") or {}).get("plural", ""),
        )
        if event_type == "DELETED":
            self.store.registry.remove_custom(group, plural)
            self._custom.pop((group, (spec.get("names") or {}).get("kind", "")), None)
            return
        self._serve_crd(spec)

    def _serve_crd(self, spec: dict) -> None:
        names = spec.get("names") or {}
        group, kind = spec.get("group", ""), names.get("kind", "")
        self.store.registry.remove_custom(group, names.get("plural", ""))
        schemas, columns = {}, {}
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            subresources = tuple(
                s
                for s in ("status", "scale")
                if s in (version.get("subresources") or {})
            )
            self.store.registry.add(
                ResourceType(
                    group,
                    version["name"],
                    kind,
                    names.get("plural", ""),
                    spec.get("scope") == "Namespaced",
                    tuple(names.get("shortNames") or ()),
                    subresources,
                    tuple(names.get("categories") or ()),
                )
            )
            schemas[version["name"]] = (version.get("schema") or {}).get(
                "openAPIV3Schema"
            )
            columns[version["name"]] = version.get("additionalPrinterColumns")
        self._custom[(group, kind)] = {
            "schemas": schemas,
            "columns": columns,
            "listKind": names.get("listKind"),
        }


# ----- helpers


def _found(document):
    if document is None:
        raise _unknown_path()
    return document


def _unknown_path() -> errors.ApiError:
    return errors.ApiError(
        404,
        "NotFound",
        "the server could not find the requested resource",
        details={
            "causes": [
                {"reason": "UnexpectedServerResponse", "message": "404 page not found"}
            ]
        },
    )


def _parse_resource_path(group: str, version: str, rest: list[str]) -> ResourcePath:
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
        if not rest:
            raise _unknown_path()
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in ("status", "finalize") and group == "")
    ):
        namespace, rest = rest[1], rest[2:]
    else:
        namespace = None
    if len(rest) > 3:
        raise _unknown_path()
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return ResourcePath(group, version, plural, namespace, name, subresource, watch)


def _parse_json(body: bytes):
    try:
        return json.loads(body.decode() or "null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"error decoding JSON: {exc}") from None


def _parse_protobuf(body: bytes) -> dict:
    try:
        return protobuf.decode_object(body)
    except (protobuf.ProtobufError, UnicodeDecodeError, KeyError) as exc:
        # TODO(protobuf): only a few kinds kubectl's typed commands create are
        # decoded; the others need their generated.proto schemas.
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"{exc}; send JSON instead (kubectl apply -f and kubectl create -f do)",
        ) from None


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(body: bytes):
    # Clients mostly send JSON (a subset of YAML): parse it the fast way first.
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:
        return yaml.load(body.decode() or "null", Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"error decoding YAML: {exc}") from None


def _preview(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"))[:200]


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _keep_status(new: dict, live: dict) -> None:
    if "status" in live:
        new["status"] = live["status"]
    else:
        new.pop("status", None)


def _dry_updated(rt: ResourceType, new: dict, live: dict) -> dict:
    result = {"apiVersion": rt.api_version, "kind": rt.kind, **clone(new)}
    meta = result["metadata"]
    meta["resourceVersion"] = live["metadata"]["resourceVersion"]
    if rt.has_generation and _spec_part(new) != _spec_part(live):
        meta["generation"] = live["metadata"].get("generation", 1) + 1
    return result


def _spec_part(obj: dict) -> dict:
    return {
        k: v
        for k, v in obj.items()
        if k not in ("apiVersion", "kind", "metadata", "status")
    }


def _initial_status(rt: ResourceType, body: dict) -> dict | None:
    if rt.key == r.POD.key:
        return {"phase": "Pending", "qosClass": _qos_class(body.get("spec") or {})}
    if rt.key == r.NAMESPACE.key:
        return {"phase": "Active"}
    if rt.key == r.PVC.key:
        return {"phase": "Pending"}
    if rt.key == r.SERVICE.key:
        return {"loadBalancer": {}}
    return None


def _qos_class(spec: dict) -> str:
    containers = spec.get("containers") or []
    if not any((c.get("resources") or {}) for c in containers):
        return "BestEffort"
    for container in containers:
        resources = container.get("resources") or {}
        limits, requests = (
            resources.get("limits") or {},
            resources.get("requests") or {},
        )
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def _condition(kind: str, reason: str, message: str, now: str) -> dict:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def _success_status(rt: ResourceType, obj: dict) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": obj["metadata"]["name"],
            "group": rt.group,
            "kind": rt.plural,
            "uid": obj["metadata"].get("uid"),
        },
    }


def _scale_of(rt: ResourceType, obj: dict) -> dict:
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    scale_meta = {
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"],
        "creationTimestamp": meta["creationTimestamp"],
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": format_label_selector(spec.get("selector")),
        },
    }


def _paginate(request: Request, items: list[dict], rv: int):
    start = 0
    token = request.param("continue")
    if token:
        try:
            start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        except (ValueError, KeyError, TypeError):
            raise errors.ApiError(
                410, "Expired", "the provided continue parameter is too old"
            ) from None
    limit = int(request.param("limit") or 0)
    if not limit or start + limit >= len(items):
        return items[start:], None, 0
    end = start + limit
    next_token = base64.urlsafe_b64encode(
        json.dumps({"rv": rv, "start": end}).encode()
    ).decode()
    return items[start:end], next_token, len(items) - end


def _container_status(pod: dict, container: str) -> dict:
    status = pod.get("status") or {}
    for entry in (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or []
    ):
        if entry.get("name") == container:
            return entry
    return {}


def _check_log_state(pod: dict, container: str, previous: bool) -> None:
    entry = _container_status(pod, container)
    name = pod["metadata"]["name"]
    if previous:
        if entry and not (entry.get("lastState") or {}).get("terminated"):
            raise errors.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        return
    waiting = (entry.get("state") or {}).get("waiting")
    started = entry.get("restartCount", 0) or (entry.get("lastState") or {}).get(
        "terminated"
    )
    if waiting and not started:
        raise errors.bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: '
            f"{waiting.get('reason', 'ContainerCreating')}"
        )


def _container_finished(pod: dict, container: str) -> bool:
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    state = _container_status(pod, container).get("state") or {}
    # A container waiting to restart (back-off) has ended its run, as the
    # kubelet ends a follow then; the next run is read by following again.
    return bool(state.get("terminated") or state.get("waiting"))


def _format_log_line(entry, timestamps: bool) -> str:
    moment, text = entry
    line = text if text.endswith("\n") else text + "\n"
    if not timestamps:
        return line
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    stamp = format_time(moment)[:-1] + (f".{fraction}" if fraction else "") + "Z"
    return f"{stamp} {line}"


class _EventSink:
    """Writes watch events as newline-delimited JSON chunks."""

    def __init__(self, out, rt: ResourceType, as_table: bool, api: ApiServer) -> None:
        self.out = out
        self.rt = rt
        self.as_table = as_table
        self.api = api
        self._columns_sent = False

    def send(self, event: dict) -> None:
        """Send one event (as a Table row when kubectl asked for tables)."""
        if self.as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {
                "type": event["type"],
                "object": discovery.table(
                    self.rt,
                    [event["object"]],
                    self.api.clock.time(),
                    resource_version=event["object"]["metadata"].get(
                        "resourceVersion", ""
                    ),
                    printer_columns=self.api._printer_columns(self.rt),
                    with_columns=not self._columns_sent,
                ),
            }
            self._columns_sent = True
        line = json.dumps(event, separators=(",", ":")) + "\n"
        self.out.write_chunk(line.encode())

    def gone(self) -> bool:
        """Return whether the client closed the connection."""
        return self.out.peer_gone()


# ----- the socket layer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Small responses must not wait for a delayed ACK (Nagle's algorithm).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def log_message(self, format, *args):
        logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self, method: str) -> None:
        started = time.perf_counter()
        self._streaming = False
        url = urlsplit(self.path)
        request = Request(
            method=method,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        try:
            self.server.api.handle(request, self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        elapsed = time.perf_counter() - started
        self.server.api.stats.record(method, elapsed, streaming=self._streaming)
        logger.debug(
            "%s %s took %.1f ms",
            method,
            url.path,
            (time.perf_counter() - started) * 1000,
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # response writer used by ApiServer

    def send_json(self, code: int, document: dict) -> None:
        self._send_body(
            code, json.dumps(document, separators=(",", ":")).encode(), JSON
        )

    def send_text(self, code: int, text: str) -> None:
        self._send_body(code, text.encode(), "text/plain; charset=utf-8")

    def _send_body(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        # One write for headers and body: a single segment per response.
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    def start_stream(self, content_type: str) -> None:
        self._streaming = True
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def peer_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class KubeHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server that closes its open connections on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, api: ApiServer) -> None:
        if address[0] not in LOOPBACK_HOSTS:
            raise ValueError(f"kubesim binds to loopback only, not {address[0]!r}")
        self.api = api
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def close_connections(self) -> None:
        """Shut every open client connection (ends keep-alive reads and streams)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
