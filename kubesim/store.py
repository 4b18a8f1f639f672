"""The object store: versioned objects, an event history and change listeners."""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections import deque
from dataclasses import dataclass

from . import errors
from .clock import Clock
from .resources import CRD, NAMESPACE, Registry, ResourceType
from .selectors import to_field_selector, to_label_selector

logger = logging.getLogger(__name__)

_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Metadata the server owns: a write can never change these.
_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "deletionTimestamp")


def clone(value):
    """Deep-copy a JSON-like value (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


@dataclass(frozen=True)
class Event:
    """One committed change, kept in the watch history."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: tuple[str, str]
    namespace: str
    obj: dict  # never mutated once committed
    old: dict | None


class Store:
    """Every object of the simulated cluster, behind one re-entrant lock."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        watch_history: int = 10000,
        registry: Registry | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock = clock or Clock()
        self.registry = registry or Registry()
        self.watch_history = watch_history
        self._objects: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
        self._by_uid: dict[str, tuple[tuple[str, str], str, str]] = {}
        self._dependents: dict[str, set[tuple[tuple[str, str], str, str]]] = {}
        self._types: dict[tuple[str, str], ResourceType] = {}
        self._rv = 0
        self._events: deque[Event] = deque()
        self._compacted_rv = 0
        self._listeners: list = []
        self.epoch = 0

    # ----- reading

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict | None:
        """Return a copy of one object, or None."""
        with self.lock:
            obj = self._bucket(rt, namespace).get(name)
            return self._present(rt, obj) if obj is not None else None

    def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        label_selector=None,
        field_selector=None,
    ) -> list[dict]:
        """Return copies of the matching objects, sorted by namespace and name."""
        items, _ = self.list_with_version(rt, namespace, label_selector, field_selector)
        return items

    def list_with_version(
        self, rt, namespace=None, label_selector=None, field_selector=None
    ) -> tuple[list[dict], int]:
        """Return the matching objects and the resourceVersion they were read at."""
        labels = to_label_selector(label_selector)
        fields = to_field_selector(field_selector)
        with self.lock:
            found = [
                self._present(rt, obj)
                for obj in self._iter_raw(rt, namespace)
                if labels.matches(obj["metadata"].get("labels"))
                and (fields.empty() or fields.matches(obj))
            ]
            return found, self._rv

    def count(self, rt: ResourceType, namespace: str | None = None) -> int:
        """Return how many objects of a type exist (in a namespace)."""
        with self.lock:
            return sum(1 for _ in self._iter_raw(rt, namespace))

    def get_by_uid(self, uid: str) -> dict | None:
        """Return a copy of the object with this uid, or None."""
        with self.lock:
            where = self._by_uid.get(uid)
            if where is None:
                return None
            key, namespace, name = where
            return clone(self._objects[key][namespace][name])

    def dependents(self, owner_uid: str) -> list[dict]:
        """Return copies of the objects whose ownerReferences name this uid."""
        with self.lock:
            return [
                clone(self._objects[key][ns][name])
                for key, ns, name in sorted(self._dependents.get(owner_uid, ()))
            ]

    def resource_version(self) -> str:
        """Return the newest resourceVersion as the API shows it."""
        return str(self._rv)

    def namespace_phase(self, name: str) -> str | None:
        """Return Active or Terminating for a namespace, None when missing."""
        with self.lock:
            namespace = self._bucket(NAMESPACE, None).get(name)
            if namespace is None:
                return None
            return (namespace.get("status") or {}).get("phase", "Active")

    # ----- writing

    def create(self, rt: ResourceType, obj: dict, *, uid: str | None = None) -> dict:
        """Store a new object; set the server fields and send ADDED.

        ``uid`` lets the API layer pre-assign the uid (a Job's selector uses it).
        """
        with self.lock:
            obj = clone(obj)
            meta = obj.setdefault("metadata", {})
            namespace = self._namespace_for(rt, meta)
            self._check_namespace_open(rt, namespace)
            bucket = self._objects.setdefault(rt.key, {}).setdefault(namespace, {})
            name = self._choose_name(rt, meta, bucket)
            if name in bucket:
                raise errors.already_exists(rt, name)
            self._remember_type(rt)
            obj = _with_type_first(rt, obj)
            meta = obj["metadata"]
            meta["name"] = name
            meta["uid"] = uid or str(uuid.uuid4())
            meta["creationTimestamp"] = self.clock.stamp()
            meta.pop("deletionTimestamp", None)
            meta.pop("deletionGracePeriodSeconds", None)
            if rt.has_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            self._commit(rt, namespace, name, obj, None, "ADDED")
            return self._present(rt, obj)

    def update(self, rt: ResourceType, obj: dict, *, check_rv: bool = False) -> dict:
        """Replace metadata and spec (status is kept when it is a subresource)."""
        with self.lock:
            meta = obj.get("metadata") or {}
            namespace = self._namespace_for(rt, dict(meta))
            current = self._bucket(rt, namespace).get(meta.get("name", ""))
            if current is None:
                raise errors.not_found(rt, meta.get("name", ""))
            if check_rv:
                self._check_version(rt, meta, current)
            new = self._merge_server_fields(rt, clone(obj), current)
            if rt.has_status:
                _copy_status(current, new)
            return self._replace(rt, namespace, current, new)

    def set_status(
        self, rt: ResourceType, namespace: str | None, name: str, status: dict
    ) -> dict | None:
        """Replace an object's status; a no-op when equal; None when missing."""
        with self.lock:
            current = self._bucket(rt, namespace).get(name)
            if current is None:
                return None
            if current.get("status") == status:
                return self._present(rt, current)
            new = dict(current)
            new["status"] = clone(status)
            return self._replace(rt, self._ns(rt, namespace), current, new)

    def replace_status(self, rt, obj: dict, *, check_rv: bool = False) -> dict:
        """Write only the status of the given object (the status subresource)."""
        with self.lock:
            meta = obj.get("metadata") or {}
            namespace = self._namespace_for(rt, dict(meta))
            current = self._bucket(rt, namespace).get(meta.get("name", ""))
            if current is None:
                raise errors.not_found(rt, meta.get("name", ""))
            if check_rv:
                self._check_version(rt, meta, current)
            new = dict(current)
            new["status"] = clone(obj.get("status") or {})
            if "managedFields" in meta:
                new["metadata"] = dict(current["metadata"])
                new["metadata"]["managedFields"] = clone(meta["managedFields"])
            return self._replace(rt, namespace, current, new)

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
        *,
        preconditions: dict | None = None,
    ) -> dict | None:
        """Delete an object and cascade to its dependents; None when missing."""
        with self.lock:
            current = self._bucket(rt, namespace).get(name)
            if current is None:
                return None
            self.check_preconditions(rt, current, preconditions or {})
            if rt.key == NAMESPACE.key:
                return self._delete_namespace(current)
            return self._delete(rt, current, propagation or "Background")

    def add_listener(self, fn, *, copy: bool = True) -> None:
        """Call fn(event_type, rt, obj) after every committed change.

        With copy=False the listener gets the stored object itself and must
        not modify it (saves a deep copy per event).
        """
        with self.lock:
            self._listeners.append((fn, copy))

    def remove_listener(self, fn) -> None:
        """Stop calling a listener."""
        with self.lock:
            self._listeners = [(f, c) for f, c in self._listeners if f != fn]

    def clear(self) -> None:
        """Forget every object and the history; open watches end (epoch bumps)."""
        with self.lock:
            self._objects.clear()
            self._by_uid.clear()
            self._dependents.clear()
            self._events.clear()
            self._compacted_rv = self._rv
            self.registry.reset()
            self.epoch += 1
            self.changed.notify_all()

    # ----- watch history

    def events_after(self, rv: int) -> list[Event]:
        """Return the events newer than rv; ApiError 410 when rv is compacted."""
        with self.lock:
            if rv < self._compacted_rv:
                raise errors.expired(
                    f"too old resource version: {rv} ({self._compacted_rv + 1})"
                )
            newer = []
            for event in reversed(self._events):
                if event.rv <= rv:
                    break
                newer.append(event)
            newer.reverse()
            return newer

    def wait_for_change(self, after_rv: int, epoch: int, timeout: float) -> bool:
        """Block until an event newer than after_rv or the epoch changes."""
        with self.changed:
            return self.changed.wait_for(
                lambda: self._rv > after_rv or self.epoch != epoch, timeout
            )

    def wake_watchers(self) -> None:
        """Wake every waiting watcher (used when the server stops)."""
        with self.changed:
            self.changed.notify_all()

    def set_watch_history(self, size: int) -> None:
        """Change how many events are kept for resuming watches."""
        with self.lock:
            self.watch_history = max(1, size)
            self._trim_history()

    def oldest_resumable_rv(self) -> int:
        """Return the oldest resourceVersion a watch can still resume from."""
        return self._compacted_rv

    # ----- internals

    def _bucket(self, rt: ResourceType, namespace: str | None) -> dict[str, dict]:
        return self._objects.get(rt.key, {}).get(self._ns(rt, namespace), {})

    @staticmethod
    def _ns(rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rt.namespaced else ""

    def _iter_raw(self, rt: ResourceType, namespace: str | None):
        by_namespace = self._objects.get(rt.key, {})
        if rt.namespaced and namespace:
            names = by_namespace.get(namespace, {})
            for name in sorted(names):
                yield names[name]
            return
        for ns in sorted(by_namespace):
            names = by_namespace[ns]
            for name in sorted(names):
                yield names[name]

    def _present(self, rt: ResourceType, obj: dict) -> dict:
        copied = clone(obj)
        copied["apiVersion"] = rt.api_version
        return copied

    def _remember_type(self, rt: ResourceType) -> None:
        self._types.setdefault(rt.key, rt)

    def _type_for(self, key: tuple[str, str]) -> ResourceType:
        return self._types[key]

    def _namespace_for(self, rt: ResourceType, meta: dict) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        namespace = meta.get("namespace")
        if not namespace:
            raise errors.bad_request(f"a namespace is required to store a {rt.kind}")
        return namespace

    def _check_namespace_open(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        phase = self.namespace_phase(namespace)
        if phase is None:
            raise errors.ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces", "group": ""},
            )
        if phase == "Terminating":
            raise errors.forbidden(
                rt,
                "",
                f"{rt.plural} is forbidden: unable to create new content in namespace "
                f"{namespace} because it is being terminated",
            )

    def _choose_name(self, rt: ResourceType, meta: dict, bucket: dict) -> str:
        if meta.get("name"):
            return meta["name"]
        prefix = meta.get("generateName")
        if not prefix:
            raise errors.invalid(
                rt,
                "",
                [
                    errors.cause(
                        "metadata.name",
                        "Required value: name or generateName is required",
                        "FieldValueRequired",
                    )
                ],
            )
        return self._generate(prefix, bucket)

    def generate_name(
        self, rt: ResourceType, namespace: str | None, prefix: str
    ) -> str:
        """Return prefix plus a random suffix not yet used in the namespace."""
        with self.lock:
            return self._generate(prefix, self._bucket(rt, namespace))

    @staticmethod
    def _generate(prefix: str, bucket: dict) -> str:
        for _ in range(100):
            suffix = "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))
            if prefix + suffix not in bucket:
                return prefix + suffix
        raise errors.ApiError(500, "InternalError", "could not generate a unique name")

    def _check_version(self, rt: ResourceType, meta: dict, current: dict) -> None:
        wanted = meta.get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rt,
                current["metadata"]["name"],
                "the object has been modified; please apply your changes to the "
                "latest version and try again",
            )

    def check_preconditions(self, rt, current: dict, preconditions: dict) -> None:
        """Raise 409 Conflict when a delete precondition (uid, rv) does not hold."""
        meta = current["metadata"]
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if uid and uid != meta["uid"]:
            raise errors.conflict(
                rt,
                meta["name"],
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{meta['uid']}",
            )
        if rv and rv != meta["resourceVersion"]:
            raise errors.conflict(
                rt,
                meta["name"],
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )

    def _merge_server_fields(self, rt: ResourceType, new: dict, current: dict) -> dict:
        new = _with_type_first(rt, new)
        meta = new.setdefault("metadata", {})
        old_meta = current["metadata"]
        for field in _SERVER_METADATA:
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        meta["name"] = old_meta["name"]
        if rt.namespaced:
            meta["namespace"] = old_meta["namespace"]
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if not meta.get("managedFields"):
            meta.pop("managedFields", None)
        if "generateName" in old_meta:
            meta.setdefault("generateName", old_meta["generateName"])
        meta["resourceVersion"] = old_meta["resourceVersion"]
        return new

    def _replace(
        self, rt: ResourceType, namespace: str, current: dict, new: dict
    ) -> dict:
        if _same_ignoring_manager_times(current, new):
            return self._present(rt, current)
        if rt.has_generation and _spec_of(current) != _spec_of(new):
            new["metadata"] = dict(new["metadata"])
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        name = current["metadata"]["name"]
        self._commit(rt, namespace, name, new, current, "MODIFIED")
        meta = new["metadata"]
        # A namespace goes when it is empty (_finish_namespace_if_empty), not here.
        finished = meta.get("deletionTimestamp") and not meta.get("finalizers")
        if finished and rt.key != NAMESPACE.key:
            self._remove(rt, new, "Background")
        return self._present(rt, new)

    def _commit(self, rt, namespace: str, name: str, obj: dict, old, event_type: str):
        self._remember_type(rt)
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        by_namespace = self._objects.setdefault(rt.key, {}).setdefault(namespace, {})
        by_namespace[name] = obj
        self._index(rt.key, namespace, name, obj, old)
        self._record(Event(self._rv, event_type, rt.key, namespace, obj, old), rt)

    def _record(self, event: Event, rt: ResourceType) -> None:
        self._events.append(event)
        self._trim_history()
        self.changed.notify_all()
        for listener, copy in list(self._listeners):
            try:
                listener(
                    event.type, rt, self._present(rt, event.obj) if copy else event.obj
                )
            except Exception:
                logger.exception("store listener %r failed", listener)

    def _trim_history(self) -> None:
        while len(self._events) > self.watch_history:
            self._compacted_rv = self._events.popleft().rv

    def _index(
        self, key, namespace: str, name: str, obj: dict | None, old: dict | None
    ):
        where = (key, namespace, name)
        for ref in _owner_uids(old):
            self._dependents.get(ref, set()).discard(where)
        if old is not None:
            self._by_uid.pop(old["metadata"]["uid"], None)
        if obj is None:
            return
        self._by_uid[obj["metadata"]["uid"]] = where
        for ref in _owner_uids(obj):
            self._dependents.setdefault(ref, set()).add(where)

    def _delete(self, rt: ResourceType, current: dict, propagation: str) -> dict:
        meta = current["metadata"]
        if meta.get("deletionTimestamp"):
            return self._present(rt, current)
        if propagation == "Orphan":
            self._orphan_dependents(meta["uid"])
        elif propagation == "Foreground":
            self._delete_dependents(meta["uid"], "Foreground")
            current = self._bucket(rt, meta.get("namespace")).get(meta["name"], current)
        if meta.get("finalizers"):
            return self._mark_deleting(rt, current)
        # TODO(grace): pods go at once; a kubelet would honour the grace period.
        return self._remove(rt, current, propagation)

    def _mark_deleting(self, rt: ResourceType, current: dict) -> dict:
        new = clone(current)
        new["metadata"]["deletionTimestamp"] = self.clock.stamp()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        namespace = self._ns(rt, current["metadata"].get("namespace"))
        self._commit(rt, namespace, new["metadata"]["name"], new, current, "MODIFIED")
        return self._present(rt, new)

    def _remove(self, rt: ResourceType, current: dict, propagation: str) -> dict:
        meta = current["metadata"]
        namespace = self._ns(rt, meta.get("namespace"))
        bucket = self._objects.get(rt.key, {}).get(namespace, {})
        if bucket.get(meta["name"]) is not current:
            return self._present(rt, current)
        del bucket[meta["name"]]
        self._index(rt.key, namespace, meta["name"], None, current)
        self._rv += 1
        gone = dict(current)
        gone["metadata"] = dict(meta)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._record(Event(self._rv, "DELETED", rt.key, namespace, gone, current), rt)
        if rt.key == CRD.key:
            self._forget_custom_objects(current)
        if propagation == "Background":
            self._delete_dependents(meta["uid"], "Background")
        self._dependents.pop(meta["uid"], None)
        if namespace:
            self._finish_namespace_if_empty(namespace)
        return self._present(rt, gone)

    def _delete_dependents(self, owner_uid: str, propagation: str) -> None:
        for key, namespace, name in sorted(self._dependents.get(owner_uid, ())):
            dependent = self._objects.get(key, {}).get(namespace, {}).get(name)
            if dependent is not None:
                self._delete(self._type_for(key), dependent, propagation)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for key, namespace, name in sorted(self._dependents.get(owner_uid, ())):
            dependent = self._objects.get(key, {}).get(namespace, {}).get(name)
            if dependent is None:
                continue
            new = clone(dependent)
            refs = [
                r
                for r in new["metadata"].get("ownerReferences", [])
                if r.get("uid") != owner_uid
            ]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            self._commit(
                self._type_for(key), namespace, name, new, dependent, "MODIFIED"
            )

    def _delete_namespace(self, current: dict) -> dict:
        name = current["metadata"]["name"]
        if (current.get("status") or {}).get("phase") != "Terminating":
            new = clone(current)
            new["metadata"]["deletionTimestamp"] = self.clock.stamp()
            new["status"] = {"phase": "Terminating"}
            self._commit(NAMESPACE, "", name, new, current, "MODIFIED")
        for key in list(self._objects):
            for obj in list(self._objects[key].get(name, {}).values()):
                self._delete(self._type_for(key), obj, "Background")
        self._finish_namespace_if_empty(name)
        return self.get(NAMESPACE, None, name) or self._present(NAMESPACE, current)

    def _finish_namespace_if_empty(self, name: str) -> None:
        namespace = self._bucket(NAMESPACE, None).get(name)
        if (
            namespace is None
            or (namespace.get("status") or {}).get("phase") != "Terminating"
        ):
            return
        if any(self._objects[key].get(name) for key in self._objects):
            return
        self._remove(NAMESPACE, namespace, "Background")

    def _forget_custom_objects(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("kind", ""))
        for namespace in list(self._objects.get(key, {})):
            for obj in list(self._objects[key][namespace].values()):
                self._remove(self._type_for(key), obj, "Background")
        self._objects.pop(key, None)


def _with_type_first(rt: ResourceType, obj: dict) -> dict:
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": rt.api_version, "kind": rt.kind, **rest}


def _owner_uids(obj: dict | None) -> list[str]:
    if obj is None:
        return []
    refs = obj["metadata"].get("ownerReferences") or []
    return [r["uid"] for r in refs if r.get("uid")]


def _copy_status(current: dict, new: dict) -> None:
    if "status" in current:
        new["status"] = current["status"]
    else:
        new.pop("status", None)


def _spec_of(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _without_manager_times(meta: dict) -> dict:
    stripped = {
        k: v for k, v in meta.items() if k not in ("managedFields", "resourceVersion")
    }
    stripped["managedFields"] = [
        {k: v for k, v in entry.items() if k != "time"}
        for entry in meta.get("managedFields") or []
    ]
    return stripped


def _same_ignoring_manager_times(current: dict, new: dict) -> bool:
    if _spec_of(current) != _spec_of(new) or current.get("status") != new.get("status"):
        return False
    return _without_manager_times(current["metadata"]) == _without_manager_times(
        new["metadata"]
    )
