"""Garbage collection: delete objects whose every owner is gone."""

from __future__ import annotations

import logging

from .base import Controller

logger = logging.getLogger(__name__)


class GarbageCollector(Controller):
    """Collect objects whose owners are all gone.

    The store already cascades deletes; this catches what it cannot see, such
    as an object created with an owner that does not exist.

    Keys are (uid, "") rather than (namespace, name): an orphan is found by the
    uid of the owner that went away.
    """

    name = "garbage-collector"

    def on_any(self, event_type: str, rt, obj: dict, old: dict | None) -> None:
        """Queue the dependents of a deleted object and any object naming owners."""
        meta = obj["metadata"]
        if event_type == "DELETED":
            for child in self.cache.children(meta["uid"], controlled=False):
                self.enqueue((child["metadata"]["uid"], ""))
            return
        if meta.get("ownerReferences"):
            self.enqueue((meta["uid"], ""))

    def resync(self) -> None:
        """Queue every object that has owners."""
        for _, obj in self.cache.owned():
            self.enqueue((obj["metadata"]["uid"], ""))

    def prime(self) -> None:
        """Check every existing dependent once."""
        self.resync()

    def reconcile(self, uid: str, _: str) -> None:
        """Delete the object when none of its owners exists any more."""
        obj = self.cache.by_uid(uid)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        owners = obj["metadata"].get("ownerReferences") or []
        if not owners or any(self.cache.exists(ref.get("uid")) for ref in owners):
            return
        try:
            rt = self.ctx.store.registry.by_kind(obj["apiVersion"], obj["kind"])
        except KeyError:
            return
        logger.info(
            "collecting %s %s/%s: its owners are gone",
            obj["kind"],
            obj["metadata"].get("namespace"),
            obj["metadata"]["name"],
        )
        self.ctx.delete(rt, obj)
