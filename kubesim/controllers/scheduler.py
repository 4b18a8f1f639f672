"""The scheduler: bind each pending pod to the least loaded node that fits."""

from __future__ import annotations

from collections import Counter

from ..resources import NODE, POD, PV, PVC, STORAGECLASS
from ..store import clone
from . import nodes as node_rules
from .base import Controller
from .meta import find_condition, is_deleting, make_condition
from .pods import is_terminal, pod_requests, qos_class

COMPONENT = "default-scheduler"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
RETRY_SECONDS = 60.0
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"


class Scheduler(Controller):
    """Assign spec.nodeName, or explain with PodScheduled=False why no node fits."""

    primary = POD
    name = "scheduler"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._usage: dict[str, Counter] = {}
        self._placed: dict[str, tuple[str, dict]] = {}
        self._pending: set[tuple[str, str]] = set()
        self._last_told: dict[str, float] = {}
        self.watches[NODE.key] = self.on_cluster_change
        self.watches[PVC.key] = self.on_claim
        self.watches[PV.key] = self.on_cluster_change
        self.watches[STORAGECLASS.key] = self.on_cluster_change

    # ----- watching

    def on_primary(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Track node usage, and queue pods that wait for a node."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        freed = self._unplace(meta["uid"])
        if event_type == "DELETED":
            self._last_told.pop(meta["uid"], None)
        if event_type != "DELETED" and not is_terminal(obj):
            self._place(obj)
        if event_type != "DELETED" and self._wants_node(obj):
            self._pending.add(key)
            self.enqueue(key)
        else:
            self._pending.discard(key)
        if freed and meta["uid"] not in self._placed:
            self.on_cluster_change(event_type, obj, old)

    def on_cluster_change(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Retry every waiting pod: a node, a volume or free room appeared."""
        for key in self._pending:
            self.enqueue(key)

    def on_claim(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Retry the waiting pods of the claim's namespace."""
        namespace = obj["metadata"].get("namespace")
        for key in self._pending:
            if key[0] == namespace:
                self.enqueue(key)

    def forget(self) -> None:
        """Drop queues and usage (after the store was cleared)."""
        super().forget()
        self._usage.clear()
        self._placed.clear()
        self._pending.clear()
        self._last_told.clear()

    def _place(self, pod: dict) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return
        requests = pod_requests(pod)
        self._placed[pod["metadata"]["uid"]] = (node, requests)
        usage = self._usage.setdefault(node, Counter())
        usage.update({**requests, "pods": 1})

    def _unplace(self, uid: str) -> bool:
        placed = self._placed.pop(uid, None)
        if placed is None:
            return False
        node, requests = placed
        usage = self._usage.get(node)
        if usage is not None:
            usage.subtract({**requests, "pods": 1})
        return True

    def _wants_node(self, pod: dict) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and not is_terminal(pod)
            and not is_deleting(pod)
            and spec.get("schedulerName", COMPONENT) == COMPONENT
        )

    # ----- scheduling

    def reconcile(self, namespace: str, name: str) -> None:
        """Bind the pod to a node, or record why it cannot be bound."""
        pod = self.cache.get(POD, namespace, name)
        if pod is None or not self._wants_node(pod):
            return
        all_nodes = sorted(self.cache.list(NODE), key=lambda n: n["metadata"]["name"])
        volume_problem, waiting_claims, volume_nodes = self._volumes(pod)
        if volume_problem:
            self._unschedulable(pod, _volume_message(volume_problem, len(all_nodes)))
            return
        fitting, reasons = self._filter(pod, all_nodes, volume_nodes)
        if not fitting:
            self._unschedulable(pod, _message(reasons, len(all_nodes)))
            return
        self._bind(pod, self._best(fitting), waiting_claims)

    def _volumes(self, pod: dict) -> tuple[str | None, list[dict], list[dict]]:
        """Return a blocking volume problem, claims to bind later, and PV affinities."""
        namespace = pod["metadata"]["namespace"]
        waiting, affinities = [], []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim_ref = volume.get("persistentVolumeClaim")
            if not claim_ref:
                continue
            claim = self.cache.get(PVC, namespace, claim_ref.get("claimName", ""))
            if claim is None:
                return (
                    f'persistentvolumeclaim "{claim_ref.get("claimName")}" not found',
                    [],
                    [],
                )
            if is_deleting(claim):
                return (
                    f'persistentvolumeclaim "{claim_ref["claimName"]}" is being '
                    "deleted",
                    [],
                    [],
                )
            if (claim.get("status") or {}).get("phase") == "Bound":
                pv = self.cache.get(
                    PV, None, (claim.get("spec") or {}).get("volumeName", "")
                )
                if pv and (pv.get("spec") or {}).get("nodeAffinity"):
                    affinities.append(pv["spec"]["nodeAffinity"])
                continue
            if self._waits_for_consumer(claim):
                waiting.append(claim)
                continue
            return "pod has unbound immediate PersistentVolumeClaims", [], []
        return None, waiting, affinities

    def _waits_for_consumer(self, claim: dict) -> bool:
        class_name = (claim.get("spec") or {}).get("storageClassName")
        storage_class = self.cache.get(STORAGECLASS, None, class_name or "")
        return bool(storage_class) and storage_class.get("volumeBindingMode") == (
            "WaitForFirstConsumer"
        )

    def _filter(self, pod: dict, all_nodes: list[dict], volume_nodes: list[dict]):
        # TODO(scheduler-affinity): pod (anti-)affinity, topology spread
        # constraints and host ports are not checked; node fit, selectors, node
        # affinity, taints and volumes are.
        spec = pod.get("spec") or {}
        requests = pod_requests(pod)
        fitting, reasons, preemption = [], Counter(), Counter()
        for node in all_nodes:
            failures = self._failures(spec, node, requests, volume_nodes)
            if not failures:
                fitting.append(node)
                continue
            reasons.update(reason for reason, _ in failures)
            helpful = all(could_help for _, could_help in failures)
            preemption[NO_VICTIMS if helpful else NOT_HELPFUL] += 1
        return fitting, (reasons, preemption)

    def _failures(self, spec, node, requests, volume_nodes) -> list[tuple[str, bool]]:
        """Return why a node does not fit: (reason, whether preemption could help)."""
        if (node.get("spec") or {}).get("unschedulable") and not node_rules.tolerates(
            spec.get("tolerations") or [], node_rules.UNSCHEDULABLE_TAINT
        ):
            return [("node(s) were unschedulable", False)]
        taint = node_rules.untolerated_taint(spec, node)
        if taint is not None:
            return [
                (
                    f"node(s) had untolerated taint {node_rules.describe_taint(taint)}",
                    False,
                )
            ]
        if not node_rules.matches_node(spec, node):
            return [("node(s) didn't match Pod's node affinity/selector", False)]
        for affinity in volume_nodes:
            terms = (affinity.get("required") or {}).get("nodeSelectorTerms") or []
            if terms and not any(node_rules.term_matches(t, node) for t in terms):
                return [("node(s) had volume node affinity conflict", False)]
        return self._resource_failures(node, requests)

    def _resource_failures(self, node: dict, requests: dict) -> list[tuple[str, bool]]:
        offered = node_rules.allocatable(node)
        used = self._usage.get(node["metadata"]["name"], Counter())
        failures = []
        if used["pods"] + 1 > offered["pods"]:
            failures.append(("Too many pods", True))
        for resource in ("cpu", "memory"):
            if (
                requests[resource]
                and used[resource] + requests[resource] > offered[resource]
            ):
                failures.append((f"Insufficient {resource}", True))
        return failures

    def _best(self, fitting: list[dict]) -> dict:
        """Pick the node with the most free room (spreads replicas), then by name."""

        def load(node: dict) -> tuple:
            offered = node_rules.allocatable(node)
            used = self._usage.get(node["metadata"]["name"], Counter())
            shares = [
                used[r] / offered[r] for r in ("cpu", "memory", "pods") if offered[r]
            ]
            return (sum(shares), node["metadata"]["name"])

        return min(fitting, key=load)

    def _bind(self, pod: dict, node: dict, waiting_claims: list[dict]) -> None:
        node_name = node["metadata"]["name"]
        for claim in waiting_claims:
            annotations = claim["metadata"].get("annotations") or {}
            if annotations.get(SELECTED_NODE) != node_name:
                updated = clone(claim)
                updated["metadata"].setdefault("annotations", {})[SELECTED_NODE] = (
                    node_name
                )
                self.ctx.update(PVC, updated)
        bound = clone(pod)
        bound["spec"]["nodeName"] = node_name
        bound = self.ctx.update(POD, bound)
        if bound is None:
            return
        status = clone(bound.get("status") or {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(bound))
        previous = find_condition(status, "PodScheduled")
        _put_scheduled(
            status,
            make_condition(
                previous,
                "PodScheduled",
                "True",
                None,
                None,
                self.ctx.stamp(),
                probe_time=True,
            ),
        )
        self.ctx.set_status(POD, bound, status)
        meta = pod["metadata"]
        self.ctx.events.record(
            bound,
            POD,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node_name}",
            COMPONENT,
        )

    def _unschedulable(self, pod: dict, message: str) -> None:
        status = clone(pod.get("status") or {})
        status["phase"] = "Pending"
        status.setdefault("qosClass", qos_class(pod))
        previous = find_condition(status, "PodScheduled")
        condition = make_condition(
            previous,
            "PodScheduled",
            "False",
            "Unschedulable",
            message,
            self.ctx.stamp(),
            probe_time=True,
        )
        _put_scheduled(status, condition)
        changed = pod.get("status") != status
        self.ctx.set_status(POD, pod, status)
        meta = pod["metadata"]
        last_told = self._last_told.get(meta["uid"])
        now = self.ctx.now()
        # Like the real scheduler's periodic retry: the event count rises.
        if changed or last_told is None or now - last_told >= RETRY_SECONDS:
            self.ctx.events.record(
                pod, POD, "Warning", "FailedScheduling", message, COMPONENT
            )
            self._last_told[meta["uid"]] = now
        self.enqueue_at((meta["namespace"], meta["name"]), now + RETRY_SECONDS)


def _put_scheduled(status: dict, condition: dict) -> None:
    conditions = [
        c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"
    ]
    status["conditions"] = [*conditions, condition]


def _message(reasons: tuple[Counter, Counter], node_count: int) -> str:
    if node_count == 0:
        return "no nodes available to schedule pods"
    failures, preemption = reasons
    parts = sorted(f"{count} {reason}" for reason, count in failures.items())
    victims = sorted(f"{count} {reason}" for reason, count in preemption.items())
    return (
        f"0/{node_count} nodes are available: {', '.join(parts)}. preemption: "
        f"0/{node_count} nodes are available: {', '.join(victims)}."
    )


def _volume_message(problem: str, node_count: int) -> str:
    return (
        f"0/{node_count} nodes are available: {problem}. preemption: 0/{node_count} "
        "nodes "
        f"are available: {node_count} {NOT_HELPFUL}."
    )
