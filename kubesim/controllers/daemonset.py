"""DaemonSet: one pod on every node its selector, affinity and tolerations allow."""

from __future__ import annotations

from ..resources import CONTROLLERREVISION, DAEMONSET, NODE, POD
from ..store import clone
from . import nodes as node_rules
from .base import Controller
from .meta import (
    is_deleting,
    owner_reference,
    percent_or_int,
    random_suffix,
    template_hash,
)
from .pods import available_at, is_active, is_ready, phase, pod_from_template

COMPONENT = "daemonset-controller"
REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
# Tolerations the DaemonSet controller adds to every daemon pod.
DAEMON_TOLERATIONS = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
    },
    {
        "key": "node.kubernetes.io/disk-pressure",
        "operator": "Exists",
        "effect": "NoSchedule",
    },
    {
        "key": "node.kubernetes.io/memory-pressure",
        "operator": "Exists",
        "effect": "NoSchedule",
    },
    {
        "key": "node.kubernetes.io/pid-pressure",
        "operator": "Exists",
        "effect": "NoSchedule",
    },
    {
        "key": "node.kubernetes.io/unschedulable",
        "operator": "Exists",
        "effect": "NoSchedule",
    },
)


class DaemonSetController(Controller):
    """Keep exactly one current pod per eligible node."""

    primary = DAEMONSET
    name = "daemonset"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[POD.key] = self.on_pod
        self.watches[NODE.key] = self.on_node

    def on_pod(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the DaemonSet that owns a changed pod."""
        self.enqueue_owner(obj, "DaemonSet")

    def on_node(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Re-place every DaemonSet when a node appears, changes or goes."""
        for daemon_set in self.cache.list(DAEMONSET):
            self.enqueue_obj(daemon_set)

    def reconcile(self, namespace: str, name: str) -> None:
        """Add missing daemon pods, remove misplaced ones, roll outdated ones."""
        ds = self.cache.get(DAEMONSET, namespace, name)
        if ds is None or is_deleting(ds):
            return
        revision = self._ensure_revision(ds)
        eligible = self._eligible_nodes(ds)
        by_node = self._pods_by_node(ds)
        for node_name, pods in by_node.items():
            keep = node_name in eligible
            for pod in sorted(pods, key=lambda p: p["metadata"]["name"])[
                1 if keep else 0 :
            ]:
                self._delete(ds, pod)
            for pod in pods:
                if phase(pod) == "Failed":
                    self._delete(ds, pod)
        for node_name in sorted(eligible):
            if not by_node.get(node_name):
                self._create(ds, node_name, revision)
        self._roll(ds, revision, eligible)
        self._write_status(namespace, name, revision)

    def _ensure_revision(self, ds: dict) -> str:
        template = (ds.get("spec") or {}).get("template") or {}
        pod_hash = template_hash(template)
        name = f"{ds['metadata']['name']}-{pod_hash}"
        namespace = ds["metadata"]["namespace"]
        if self.cache.get(CONTROLLERREVISION, namespace, name) is None:
            owned = self.cache.children(ds["metadata"]["uid"], CONTROLLERREVISION)
            number = max((int(r.get("revision") or 0) for r in owned), default=0) + 1
            self.ctx.create(
                CONTROLLERREVISION,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "labels": {REVISION_LABEL: pod_hash},
                        "ownerReferences": [owner_reference(ds, DAEMONSET)],
                    },
                    "data": {
                        "spec": {"template": {**clone(template), "$patch": "replace"}}
                    },
                    "revision": number,
                },
            )
        return pod_hash

    def _eligible_nodes(self, ds: dict) -> set[str]:
        spec = _daemon_spec(ds)
        return {
            node["metadata"]["name"]
            for node in self.cache.list(NODE)
            if node_rules.matches_node(spec, node)
            and node_rules.untolerated_taint(spec, node) is None
        }

    def _pods_by_node(self, ds: dict) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for pod in self.cache.children(ds["metadata"]["uid"], POD):
            if not is_active(pod) and phase(pod) != "Failed":
                continue
            node = _target_node(pod)
            if node:
                found.setdefault(node, []).append(pod)
        return found

    def _create(self, ds: dict, node_name: str, revision: str) -> None:
        meta = ds["metadata"]
        template = clone(ds["spec"].get("template") or {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels[REVISION_LABEL] = revision
        labels[GENERATION_LABEL] = str(meta.get("generation", 1))
        template["spec"] = _daemon_spec(ds)
        template["spec"]["affinity"] = _pinned_to(
            node_name, template["spec"].get("affinity")
        )
        name = self._free_name(meta["namespace"], meta["name"])
        pod = pod_from_template(
            template, meta["namespace"], name, owner_reference(ds, DAEMONSET)
        )
        if self.ctx.create(POD, pod) is not None:
            self.ctx.events.record(
                ds,
                DAEMONSET,
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

    def _delete(self, ds: dict, pod: dict) -> None:
        self.ctx.delete(POD, pod)
        self.ctx.events.record(
            ds,
            DAEMONSET,
            "Normal",
            "SuccessfulDelete",
            f"Deleted pod: {pod['metadata']['name']}",
            COMPONENT,
        )

    def _roll(self, ds: dict, revision: str, eligible: set[str]) -> None:
        """Replace outdated pods, keeping at most maxUnavailable nodes without one."""
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        rolling = strategy.get("rollingUpdate") or {}
        budget = max(
            1,
            percent_or_int(
                rolling.get("maxUnavailable", 1), len(eligible), round_up=True
            ),
        )
        by_node = self._pods_by_node(ds)
        unavailable = sum(
            1
            for node in eligible
            if not any(is_ready(p) for p in by_node.get(node, []))
        )
        for node in sorted(eligible):
            if unavailable >= budget:
                return
            for pod in by_node.get(node, []):
                if (pod["metadata"].get("labels") or {}).get(
                    REVISION_LABEL
                ) != revision:
                    self._delete(ds, pod)
                    unavailable += 1

    def _write_status(self, namespace: str, name: str, revision: str) -> None:
        ds = self.cache.get(DAEMONSET, namespace, name)
        if ds is None:
            return
        eligible = self._eligible_nodes(ds)
        by_node = {
            n: [p for p in pods if is_active(p)]
            for n, pods in self._pods_by_node(ds).items()
        }
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.ctx.now()
        scheduled = [n for n in eligible if by_node.get(n)]
        ready_pods = [p for n in scheduled for p in by_node[n] if is_ready(p)]
        available = 0
        for pod in ready_pods:
            since = available_at(pod, min_ready)
            if since is not None and since <= now:
                available += 1
            elif since is not None:
                self.enqueue_at((namespace, name), since)
        status = {
            "currentNumberScheduled": len(scheduled),
            "numberMisscheduled": sum(
                1 for n, pods in by_node.items() if pods and n not in eligible
            ),
            "desiredNumberScheduled": len(eligible),
            "numberReady": len(ready_pods),
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": sum(
                1
                for n in scheduled
                for p in by_node[n]
                if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision
            ),
            "numberAvailable": available,
            "numberUnavailable": max(0, len(eligible) - available),
        }
        for field in ("updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
            if not status[field]:
                del status[field]
        self.ctx.set_status(DAEMONSET, ds, status)


def _daemon_spec(ds: dict) -> dict:
    spec = clone(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    tolerations = spec.setdefault("tolerations", [])
    for toleration in DAEMON_TOLERATIONS:
        if not any(
            t.get("key") == toleration["key"]
            and t.get("effect") == toleration["effect"]
            for t in tolerations
        ):
            tolerations.append(dict(toleration))
    return spec


def _pinned_to(node_name: str, affinity: dict | None) -> dict:
    affinity = clone(affinity or {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [
            {
                "matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node_name]}
                ]
            }
        ]
    }
    return affinity


def _target_node(pod: dict) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return field["values"][0]
    return None
