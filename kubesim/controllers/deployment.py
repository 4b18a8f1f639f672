"""Deployment: one ReplicaSet per template, rolled over with surge and budget."""

from __future__ import annotations

from ..resources import DEPLOYMENT, REPLICASET
from ..store import clone
from .base import Controller
from .meta import (
    drop_zero,
    find_condition,
    is_deleting,
    owner_reference,
    percent_or_int,
    seconds_of,
    template_hash,
    without_label,
)

COMPONENT = "deployment-controller"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
DEFAULT_DEADLINE = 600
DEFAULT_HISTORY = 10


class DeploymentController(Controller):
    """Create the ReplicaSet of the current template and move replicas onto it."""

    primary = DEPLOYMENT
    name = "deployment"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[REPLICASET.key] = self.on_replicaset

    def on_replicaset(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the Deployment that owns a changed ReplicaSet."""
        self.enqueue_owner(obj, "Deployment")

    def reconcile(self, namespace: str, name: str) -> None:
        """Roll the Deployment one move forward, then write its status."""
        deployment = self.cache.get(DEPLOYMENT, namespace, name)
        if deployment is None or is_deleting(deployment):
            return
        spec = deployment.get("spec") or {}
        new_rs = self._find_new(deployment)
        created = False
        if new_rs is None and not spec.get("paused"):
            new_rs = self._create_new(deployment)
            created = new_rs is not None
        if new_rs is not None:
            new_rs = self._promote_revision(deployment, new_rs)
        old = [
            rs
            for rs in self._owned(deployment)
            if new_rs is None or not _same(rs, new_rs)
        ]
        if spec.get("paused"):
            self._scale_paused(deployment, new_rs, old)
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            self._recreate(deployment, new_rs, old)
        else:
            self._roll(deployment, new_rs, old)
        self._clean_history(deployment, new_rs)
        self._write_status(namespace, name, created)

    # ----- replica sets

    def _owned(self, deployment: dict) -> list[dict]:
        found = self.cache.children(deployment["metadata"]["uid"], REPLICASET)
        return sorted(
            found,
            key=lambda rs: (
                rs["metadata"]["creationTimestamp"],
                rs["metadata"]["name"],
            ),
        )

    def _find_new(self, deployment: dict) -> dict | None:
        template = deployment["spec"].get("template") or {}
        for rs in self._owned(deployment):
            if without_label(rs["spec"].get("template"), HASH_LABEL) == template:
                return rs
        return None

    def _create_new(self, deployment: dict) -> dict | None:
        meta = deployment["metadata"]
        spec = deployment["spec"]
        status = deployment.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        pod_hash = template_hash(spec.get("template") or {}, collisions)
        name = f"{meta['name']}-{pod_hash}"
        if self.cache.get(REPLICASET, meta["namespace"], name) is not None:
            # Another object holds the name: change the hash, as the real one does.
            status = dict(status, collisionCount=collisions + 1)
            self.ctx.set_status(DEPLOYMENT, deployment, status)
            return None
        replicas = self._initial_replicas(deployment)
        rs = _replica_set(
            deployment, name, pod_hash, replicas, self._next_revision(deployment)
        )
        created = self.ctx.create(REPLICASET, rs)
        if created is not None:
            self._scaled_event(deployment, name, 0, replicas)
        return created

    def _initial_replicas(self, deployment: dict) -> int:
        wanted = _replicas(deployment)
        owned = self._owned(deployment)
        if (deployment["spec"].get("strategy") or {}).get("type") == "Recreate":
            return 0 if any(_spec_replicas(rs) for rs in owned) else wanted
        total = sum(_spec_replicas(rs) for rs in owned)
        surge, _ = _surge_and_unavailable(deployment)
        return max(0, min(wanted, wanted + surge - total))

    def _next_revision(self, deployment: dict) -> int:
        revisions = [_revision(rs) for rs in self._owned(deployment)]
        return max(revisions, default=0) + 1

    def _promote_revision(self, deployment: dict, new_rs: dict) -> dict:
        """Give a ReplicaSet that became current again the newest revision."""
        others = [
            _revision(rs) for rs in self._owned(deployment) if not _same(rs, new_rs)
        ]
        revision = _revision(new_rs)
        if others and revision <= max(others):
            revision = max(others) + 1
            updated = clone(new_rs)
            updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            new_rs = self.ctx.update(REPLICASET, updated) or new_rs
        annotations = deployment["metadata"].get("annotations") or {}
        if annotations.get(REVISION) != str(revision):
            updated = clone(deployment)
            updated["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            self.ctx.update(DEPLOYMENT, updated)
        return new_rs

    def _scale(self, deployment: dict, rs: dict, replicas: int) -> dict:
        current = _spec_replicas(rs)
        surge, _ = _surge_and_unavailable(deployment)
        wanted = _replicas(deployment)
        annotations = {DESIRED: str(wanted), MAX_REPLICAS: str(wanted + surge)}
        existing = rs["metadata"].get("annotations") or {}
        if current == replicas and all(
            existing.get(k) == v for k, v in annotations.items()
        ):
            return rs
        updated = clone(rs)
        updated["spec"]["replicas"] = replicas
        updated["metadata"].setdefault("annotations", {}).update(annotations)
        result = self.ctx.update(REPLICASET, updated) or rs
        if current != replicas:
            self._scaled_event(deployment, rs["metadata"]["name"], current, replicas)
        return result

    def _scaled_event(
        self, deployment: dict, rs_name: str, before: int, after: int
    ) -> None:
        direction = "up" if after > before else "down"
        self.ctx.events.record(
            deployment,
            DEPLOYMENT,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs_name} from {before} to {after}",
            COMPONENT,
        )

    # ----- strategies

    def _roll(self, deployment: dict, new_rs: dict | None, old: list[dict]) -> None:
        if new_rs is None:
            return
        wanted = _replicas(deployment)
        surge, unavailable = _surge_and_unavailable(deployment)
        new_rs = self._scale_up_new(deployment, new_rs, old, wanted, surge)
        active_old = [rs for rs in old if _spec_replicas(rs) > 0]
        if not active_old:
            return
        min_available = wanted - unavailable
        everything = [new_rs, *active_old]
        new_unavailable = max(0, _spec_replicas(new_rs) - _available(new_rs))
        budget = (
            sum(_spec_replicas(rs) for rs in everything)
            - min_available
            - new_unavailable
        )
        active_old = self._clean_unhealthy(deployment, active_old, budget)
        available = _available(new_rs) + sum(_available(rs) for rs in active_old)
        self._scale_down_old(deployment, active_old, available - min_available)

    def _scale_up_new(self, deployment, new_rs, old, wanted, surge) -> dict:
        current = _spec_replicas(new_rs)
        if current > wanted:
            return self._scale(deployment, new_rs, wanted)
        if current == wanted:
            return self._scale(deployment, new_rs, wanted)
        total = current + sum(_spec_replicas(rs) for rs in old)
        room = wanted + surge - total
        if room <= 0:
            return new_rs
        return self._scale(deployment, new_rs, min(wanted, current + room))

    def _clean_unhealthy(
        self, deployment: dict, old: list[dict], budget: int
    ) -> list[dict]:
        """Scale old ReplicaSets down by their unavailable pods first."""
        result = []
        for rs in old:
            unhealthy = _spec_replicas(rs) - _available(rs)
            if budget > 0 and unhealthy > 0:
                down = min(budget, unhealthy)
                budget -= down
                rs = self._scale(deployment, rs, _spec_replicas(rs) - down)
            result.append(rs)
        return result

    def _scale_down_old(self, deployment: dict, old: list[dict], budget: int) -> None:
        for rs in old:
            if budget <= 0:
                return
            down = min(_spec_replicas(rs), budget)
            if down > 0:
                budget -= down
                self._scale(deployment, rs, _spec_replicas(rs) - down)

    def _recreate(self, deployment: dict, new_rs: dict | None, old: list[dict]) -> None:
        for rs in old:
            if _spec_replicas(rs) > 0:
                self._scale(deployment, rs, 0)
        if new_rs is None:
            return
        if any(
            (rs.get("status") or {}).get("replicas")
            for rs in self._owned(deployment)
            if not _same(rs, new_rs)
        ):
            return
        self._scale(deployment, new_rs, _replicas(deployment))

    def _scale_paused(
        self, deployment: dict, new_rs: dict | None, old: list[dict]
    ) -> None:
        # TODO(deployment-proportional): a paused rollout scales only when no old
        # ReplicaSet is active; the real one spreads the change proportionally.
        if new_rs is not None and not any(_spec_replicas(rs) for rs in old):
            self._scale(deployment, new_rs, _replicas(deployment))

    def _clean_history(self, deployment: dict, new_rs: dict | None) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit", DEFAULT_HISTORY)
        idle = [
            rs
            for rs in self._owned(deployment)
            if (new_rs is None or not _same(rs, new_rs))
            and _spec_replicas(rs) == 0
            and not (rs.get("status") or {}).get("replicas")
        ]
        idle.sort(key=_revision)
        for rs in idle[: max(0, len(idle) - int(limit))]:
            self.ctx.delete(REPLICASET, rs)

    # ----- status

    def _write_status(self, namespace: str, name: str, created: bool) -> None:
        deployment = self.cache.get(DEPLOYMENT, namespace, name)
        if deployment is None:
            return
        new_rs = self._find_new(deployment)
        owned = self._owned(deployment)
        old_status = deployment.get("status") or {}
        status = _counts(deployment, new_rs, owned)
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        now = self.ctx.stamp()
        conditions = [
            self._available_condition(deployment, status, now),
            self._progressing_condition(
                deployment, new_rs, status, old_status, created, now
            ),
        ]
        status["conditions"] = [c for c in conditions if c is not None]
        self.ctx.set_status(DEPLOYMENT, deployment, status)

    def _available_condition(self, deployment: dict, status: dict, now: str) -> dict:
        previous = find_condition(deployment.get("status"), "Available")
        _, unavailable = _surge_and_unavailable(deployment)
        if status.get("availableReplicas", 0) >= _replicas(deployment) - unavailable:
            reason, value = "MinimumReplicasAvailable", "True"
            message = "Deployment has minimum availability."
        else:
            reason, value = "MinimumReplicasUnavailable", "False"
            message = "Deployment does not have minimum availability."
        return _keep_or_touch(previous, "Available", value, reason, message, now)

    def _progressing_condition(
        self, deployment, new_rs, status, old_status, created, now
    ):
        previous = find_condition(old_status, "Progressing")
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        if deployment["spec"].get("paused"):
            return _keep_or_touch(
                previous,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                now,
            )
        if created:
            return _touched(
                previous,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{rs_name}"',
                now,
            )
        if _complete(deployment, status):
            return _keep_or_touch(
                previous,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
            )
        if previous is not None and previous.get("reason") == "DeploymentPaused":
            return _touched(
                previous,
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
                now,
            )
        if previous is None or _progressed(status, old_status):
            return _touched(
                previous,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
                now,
            )
        return self._maybe_timed_out(deployment, previous, rs_name, now)

    def _maybe_timed_out(self, deployment, previous, rs_name, now):
        if previous.get("reason") in (
            "ProgressDeadlineExceeded",
            "NewReplicaSetAvailable",
        ):
            return previous
        deadline = deployment["spec"].get("progressDeadlineSeconds", DEFAULT_DEADLINE)
        since = seconds_of(
            previous.get("lastUpdateTime") or previous.get("lastTransitionTime")
        )
        expires = (since or self.ctx.now()) + int(deadline)
        if self.ctx.now() < expires:
            meta = deployment["metadata"]
            self.enqueue_at((meta["namespace"], meta["name"]), expires)
            return previous
        return _touched(
            previous,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{rs_name}" has timed out progressing.',
            now,
        )


def _replica_set(
    deployment: dict, name: str, pod_hash: str, replicas: int, revision: int
) -> dict:
    meta = deployment["metadata"]
    spec = deployment["spec"]
    template = clone(spec.get("template") or {})
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = clone(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    surge, _ = _surge_and_unavailable(deployment)
    wanted = _replicas(deployment)
    rs_spec = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {
                DESIRED: str(wanted),
                MAX_REPLICAS: str(wanted + surge),
                REVISION: str(revision),
            },
            "ownerReferences": [owner_reference(deployment, DEPLOYMENT)],
        },
        "spec": rs_spec,
        "status": {"replicas": 0},
    }


def _counts(deployment: dict, new_rs: dict | None, owned: list[dict]) -> dict:
    def total(field: str, sets) -> int:
        return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)

    spec_total = sum(_spec_replicas(rs) for rs in owned)
    available = total("availableReplicas", owned)
    status = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": total("replicas", owned),
        "updatedReplicas": total("replicas", [new_rs] if new_rs else []),
        "readyReplicas": total("readyReplicas", owned),
        "availableReplicas": available,
        "unavailableReplicas": max(0, spec_total - available),
    }
    if not owned:
        status["unavailableReplicas"] = _replicas(deployment)
    return drop_zero(
        status,
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    )


def _complete(deployment: dict, status: dict) -> bool:
    wanted = _replicas(deployment)
    return (
        status.get("updatedReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
        and status.get("observedGeneration")
        == deployment["metadata"].get("generation", 1)
    )


def _progressed(status: dict, old: dict) -> bool:
    def get(d, field):
        return int(d.get(field) or 0)

    old_pods = get(old, "replicas") - get(old, "updatedReplicas")
    new_pods = get(status, "replicas") - get(status, "updatedReplicas")
    return (
        get(status, "updatedReplicas") > get(old, "updatedReplicas")
        or get(status, "readyReplicas") > get(old, "readyReplicas")
        or get(status, "availableReplicas") > get(old, "availableReplicas")
        or new_pods < old_pods
    )


def _keep_or_touch(previous, kind, value, reason, message, now) -> dict:
    if (
        previous
        and previous.get("status") == value
        and previous.get("reason") == reason
    ):
        return previous
    return _touched(previous, kind, value, reason, message, now)


def _touched(previous, kind, value, reason, message, now) -> dict:
    """Return a Deployment condition whose lastUpdateTime is now."""
    kept = previous is not None and previous.get("status") == value
    return {
        "type": kind,
        "status": value,
        "lastUpdateTime": now,
        "lastTransitionTime": previous["lastTransitionTime"] if kept else now,
        "reason": reason,
        "message": message,
    }


def _replicas(deployment: dict) -> int:
    value = (deployment.get("spec") or {}).get("replicas", 1)
    return 1 if value is None else int(value)


def _spec_replicas(rs: dict) -> int:
    value = (rs.get("spec") or {}).get("replicas", 1)
    return 1 if value is None else int(value)


def _available(rs: dict) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)


def _revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _same(a: dict, b: dict) -> bool:
    return a["metadata"]["uid"] == b["metadata"]["uid"]


def _surge_and_unavailable(deployment: dict) -> tuple[int, int]:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    wanted = _replicas(deployment)
    if strategy.get("type") == "Recreate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    surge = percent_or_int(rolling.get("maxSurge", "25%"), wanted, round_up=True)
    unavailable = percent_or_int(
        rolling.get("maxUnavailable", "25%"), wanted, round_up=False
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, wanted)
