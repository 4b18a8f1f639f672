"""ReplicaSet: keep spec.replicas active pods, and report how many are ready."""

from __future__ import annotations

from ..resources import POD, REPLICASET
from ..selectors import selector_from_object
from .base import Controller
from .meta import drop_zero, is_deleting, owner_reference, random_suffix
from .pods import available_at, is_active, is_ready, pod_from_template, pod_rank

COMPONENT = "replicaset-controller"


class ReplicaSetController(Controller):
    """Create or delete pods towards spec.replicas; write the counts to status."""

    primary = REPLICASET
    name = "replicaset"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[POD.key] = self.on_pod

    def on_pod(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the ReplicaSet that owns a changed pod."""
        self.enqueue_owner(obj, "ReplicaSet")

    def reconcile(self, namespace: str, name: str) -> None:
        """Create or delete pods, then write the status."""
        rs = self.cache.get(REPLICASET, namespace, name)
        if rs is None or is_deleting(rs):
            return
        self._manage_pods(rs)
        self._write_status(rs)

    def active_pods(self, rs: dict) -> list[dict]:
        """Return the live pods this ReplicaSet controls."""
        return [
            p for p in self.cache.children(rs["metadata"]["uid"], POD) if is_active(p)
        ]

    def _manage_pods(self, rs: dict) -> None:
        # TODO(rs-adoption): orphan pods matching the selector are not adopted,
        # and deleted pods vanish at once instead of Terminating for their
        # grace period (the store removes objects without finalizers at once).
        pods = self.active_pods(rs)
        wanted = int((rs.get("spec") or {}).get("replicas", 1))
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                self._create_pod(rs)
        elif len(pods) > wanted:
            for pod in sorted(pods, key=pod_rank)[: len(pods) - wanted]:
                self.ctx.delete(POD, pod)
                self.ctx.events.record(
                    rs,
                    REPLICASET,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    COMPONENT,
                )

    def _create_pod(self, rs: dict) -> None:
        meta = rs["metadata"]
        name = self._free_name(meta["namespace"], meta["name"])
        pod = pod_from_template(
            rs["spec"].get("template"),
            meta["namespace"],
            name,
            owner_reference(rs, REPLICASET),
        )
        if self.ctx.create(POD, pod) is not None:
            self.ctx.events.record(
                rs,
                REPLICASET,
                "Normal",
                "SuccessfulCreate",
                f"Created pod: {name}",
                COMPONENT,
            )

    def _free_name(self, namespace: str, prefix: str) -> str:
        while True:
            name = f"{prefix}-{random_suffix(self.ctx.rng)}"
            if self.cache.get(POD, namespace, name) is None:
                return name

    def _write_status(self, rs: dict) -> None:
        rs = self.cache.get(
            REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"]
        )
        if rs is None:
            return
        pods = self.active_pods(rs)
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.now()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get(
            "labels"
        )
        labelled = selector_from_object({"matchLabels": template_labels or {}})
        available = 0
        for pod in pods:
            since = available_at(pod, min_ready)
            if since is None:
                continue
            if since <= now:
                available += 1
            else:
                self.enqueue_at(
                    (rs["metadata"]["namespace"], rs["metadata"]["name"]), since
                )
        status = dict(rs.get("status") or {})
        status.update(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": sum(
                    1 for p in pods if labelled.matches(p["metadata"].get("labels"))
                ),
                "readyReplicas": sum(1 for p in pods if is_ready(p)),
                "availableReplicas": available,
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
        )
        drop_zero(status, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        self.ctx.set_status(REPLICASET, rs, status)
