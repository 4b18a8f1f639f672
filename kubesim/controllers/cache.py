"""An in-memory mirror of the store, kept current by the store's listener.

The store calls its listeners synchronously, with its lock held, in commit
order, so this mirror is exactly the store's current state whenever a
controller (which also holds the lock) reads it. It adds the indexes the
controllers need: by uid and by owner.
"""

from __future__ import annotations

from collections.abc import Iterator

Key = tuple[str, str]  # (group, kind)
Where = tuple[Key, str, str]  # (type key, namespace, name)


class Cache:
    """Objects by type, namespace and name; indexed by uid and by owner uid."""

    def __init__(self) -> None:
        self._objects: dict[Key, dict[str, dict[str, dict]]] = {}
        self._by_uid: dict[str, Where] = {}
        self._children: dict[str, set[Where]] = {}

    def load(self, store) -> None:
        """Fill the mirror from every type the store serves."""
        self._objects.clear()
        self._by_uid.clear()
        self._children.clear()
        with store.lock:
            for rt in store.registry.all():
                for obj in store.list(rt):
                    self.apply("ADDED", rt, obj)

    def apply(self, event_type: str, rt, obj: dict) -> dict | None:
        """Record one committed change; return the previous version, if any."""
        meta = obj["metadata"]
        namespace = (meta.get("namespace") or "") if rt.namespaced else ""
        bucket = self._objects.setdefault(rt.key, {}).setdefault(namespace, {})
        old = bucket.get(meta["name"])
        where = (rt.key, namespace, meta["name"])
        if old is not None:
            self._unindex(where, old)
        if event_type == "DELETED":
            bucket.pop(meta["name"], None)
            return old
        bucket[meta["name"]] = obj
        self._index(where, obj)
        return old

    def _index(self, where: Where, obj: dict) -> None:
        self._by_uid[obj["metadata"]["uid"]] = where
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("uid"):
                self._children.setdefault(ref["uid"], set()).add(where)

    def _unindex(self, where: Where, obj: dict) -> None:
        if self._by_uid.get(obj["metadata"]["uid"]) == where:
            del self._by_uid[obj["metadata"]["uid"]]
        for ref in obj["metadata"].get("ownerReferences") or []:
            children = self._children.get(ref.get("uid"))
            if children is not None:
                children.discard(where)
                if not children:
                    del self._children[ref["uid"]]

    def get(self, rt, namespace: str | None, name: str) -> dict | None:
        """Return one object (shared: copy it before changing it)."""
        namespace = (namespace or "") if rt.namespaced else ""
        return self._objects.get(rt.key, {}).get(namespace, {}).get(name)

    def list(self, rt, namespace: str | None = None) -> list[dict]:
        """Return the objects of a type, in one namespace or in all."""
        by_namespace = self._objects.get(rt.key, {})
        if rt.namespaced and namespace:
            return list(by_namespace.get(namespace, {}).values())
        return [obj for names in by_namespace.values() for obj in names.values()]

    def count(self, rt, namespace: str | None = None) -> int:
        """Return how many objects of a type exist (in a namespace)."""
        by_namespace = self._objects.get(rt.key, {})
        if rt.namespaced and namespace:
            return len(by_namespace.get(namespace, {}))
        return sum(len(names) for names in by_namespace.values())

    def namespaces(self, rt) -> list[str]:
        """Return the namespaces holding objects of a type."""
        return [ns for ns, names in self._objects.get(rt.key, {}).items() if names]

    def by_uid(self, uid: str | None) -> dict | None:
        """Return the object with this uid, if it exists."""
        where = self._by_uid.get(uid or "")
        if where is None:
            return None
        key, namespace, name = where
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def exists(self, uid: str | None) -> bool:
        """Return whether an object with this uid exists."""
        return (uid or "") in self._by_uid

    def children(
        self, owner_uid: str, rt=None, *, controlled: bool = True
    ) -> list[dict]:
        """Return the objects owned by a uid (controlled ones only by default)."""
        found = []
        for key, namespace, name in self._children.get(owner_uid, ()):
            if rt is not None and key != rt.key:
                continue
            obj = self._objects.get(key, {}).get(namespace, {}).get(name)
            if obj is None:
                continue
            if controlled and not _controls(obj, owner_uid):
                continue
            found.append(obj)
        found.sort(key=lambda o: o["metadata"]["name"])
        return found

    def owned(self) -> Iterator[tuple[Key, dict]]:
        """Yield every object that has ownerReferences, with its type key."""
        for key, by_namespace in self._objects.items():
            for names in by_namespace.values():
                for obj in names.values():
                    if obj["metadata"].get("ownerReferences"):
                        yield key, obj


def _controls(obj: dict, owner_uid: str) -> bool:
    return any(
        ref.get("uid") == owner_uid and ref.get("controller")
        for ref in obj["metadata"].get("ownerReferences") or []
    )
