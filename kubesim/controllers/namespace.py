"""Namespaces: Active with a default ServiceAccount; emptied while Terminating."""

from __future__ import annotations

from collections import Counter

from ..resources import NAMESPACE, SERVICEACCOUNT
from .base import Controller
from .meta import is_deleting, make_condition


class NamespaceController(Controller):
    """Activate namespaces, give each a "default" ServiceAccount, finish deletes."""

    primary = NAMESPACE
    name = "namespace"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[SERVICEACCOUNT.key] = self.on_service_account

    def on_service_account(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Recreate the default ServiceAccount when someone deletes it."""
        if event_type == "DELETED" and obj["metadata"]["name"] == "default":
            self.enqueue(("", obj["metadata"]["namespace"]))

    def reconcile(self, namespace: str, name: str) -> None:
        """Activate the namespace, or keep emptying it while it terminates."""
        obj = self.cache.get(NAMESPACE, None, name)
        if obj is None:
            return
        if (obj.get("status") or {}).get("phase") == "Terminating" or is_deleting(obj):
            self._empty(obj)
            return
        if (obj.get("status") or {}).get("phase") != "Active":
            self.ctx.set_status(
                NAMESPACE, obj, {**(obj.get("status") or {}), "phase": "Active"}
            )
        if self.cache.get(SERVICEACCOUNT, name, "default") is None:
            self.ctx.create(
                SERVICEACCOUNT,
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name},
                },
            )

    def _empty(self, obj: dict) -> None:
        """Delete what is left in a terminating namespace and say what remains."""
        name = obj["metadata"]["name"]
        remaining, finalized = Counter(), Counter()
        for rt in self.ctx.store.registry.all():
            if not rt.namespaced:
                continue
            for item in self.cache.list(rt, name):
                if item["metadata"].get("finalizers"):
                    finalized[rt.plural] += 1
                remaining[rt.plural] += 1
                if not is_deleting(item):
                    self.ctx.delete(rt, item)
        if not remaining:
            return
        current = self.cache.get(NAMESPACE, None, name)
        if current is None:
            return
        self.ctx.set_status(
            NAMESPACE,
            current,
            _terminating_status(current, remaining, finalized, self.ctx.stamp()),
        )


def _terminating_status(
    obj: dict, remaining: Counter, finalized: Counter, now: str
) -> dict:
    status = {"phase": "Terminating"}
    previous = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    content = ", ".join(
        f"{plural} has {count} resource instances"
        for plural, count in sorted(remaining.items())
    )
    conditions = [
        make_condition(
            previous.get("NamespaceContentRemaining"),
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            f"Some resources are remaining: {content}",
            now,
        ),
    ]
    if finalized:
        held = ", ".join(
            f"{plural} in {count} resource instances"
            for plural, count in sorted(finalized.items())
        )
        conditions.append(
            make_condition(
                previous.get("NamespaceFinalizersRemaining"),
                "NamespaceFinalizersRemaining",
                "True",
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {held}",
                now,
            )
        )
    status["conditions"] = conditions
    return status
