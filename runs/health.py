"""Health rules per Kubernetes kind, following /shared/HEALTH.md.

The rules start from Argo CD's health checks and ``kubectl rollout status``
and add the blind-spot fixes marked (beyond) in HEALTH.md: a workload turns
degraded as soon as one of its current pods is degraded, a StatefulSet or
DaemonSet can be degraded, a PVC waiting for its first consumer does not
block, an Ingress without an address turns healthy with a warning after a
grace period, and a Service that selects no ready pod is flagged.

Everything here works on plain dicts shaped like Kubernetes API objects and
on a ``ClusterView`` that answers the few cross-object questions (pods of a
workload, events of an object, storage classes). No Django, no network.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

logger = logging.getLogger(__name__)

INGRESS_GRACE_SECONDS = 60.0

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "IngressClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
    }
)

# Waiting reasons that never fix themselves by waiting, beyond the naming
# pattern of HEALTH.md (Err*, *BackOff, *Error).
PERMANENT_WAITING_REASONS = frozenset({"InvalidImageName"})

# Pod problems a Job cannot retry its way out of: its pods would only fail
# the same way until the run's deadline.
JOB_BLOCKING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "Unschedulable",
    }
)


class HealthState(StrEnum):
    """How a node or object is doing, from best to worst."""

    # Green: doing what it was asked to do.
    HEALTHY = "healthy"
    # Grey-blue: paused or suspended on purpose.
    SUSPENDED = "suspended"
    # Yellow: on its way, or partially ready.
    PROGRESSING = "progressing"
    # Grey: applied, but not found in the cluster.
    MISSING = "missing"
    # Red: failing and needs a change.
    DEGRADED = "degraded"
    # Grey: cannot tell.
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """Return the rank of this state; a higher rank is worse."""
        return _SEVERITY[self]


_SEVERITY = {state: rank for rank, state in enumerate(HealthState)}


def worst(states: Iterable[HealthState]) -> HealthState:
    """Return the worst of the given states (healthy when there are none)."""
    return max(states, key=lambda state: state.severity, default=HealthState.HEALTHY)


@dataclass
class Health:
    """The health of one object or node, with words and evidence."""

    state: HealthState
    message: str = ""
    ready: int | None = None
    desired: int | None = None
    warnings: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)
    # A PVC whose storage class binds on first use: progressing, yet
    # nothing should wait for it.
    waiting_for_consumer: bool = False

    def as_dict(self) -> dict:
        """Return a JSON-ready form (for RunNodeState.health and the API)."""
        return {
            "state": self.state.value,
            "message": self.message,
            "ready": self.ready,
            "desired": self.desired,
            "warnings": list(self.warnings),
            "evidence": self.evidence,
            "waiting_for_consumer": self.waiting_for_consumer,
        }

    @property
    def done(self) -> bool:
        """Return True when nothing should wait any longer for this object."""
        if self.state in (HealthState.HEALTHY, HealthState.SUSPENDED):
            return True
        return self.state == HealthState.PROGRESSING and self.waiting_for_consumer


def healthy(message: str = "", **extra) -> Health:
    """Build a healthy Health."""
    return Health(HealthState.HEALTHY, message, **extra)


def progressing(message: str, **extra) -> Health:
    """Build a progressing Health."""
    return Health(HealthState.PROGRESSING, message, **extra)


def degraded(message: str, **extra) -> Health:
    """Build a degraded Health."""
    return Health(HealthState.DEGRADED, message, **extra)


def suspended(message: str, **extra) -> Health:
    """Build a suspended Health."""
    return Health(HealthState.SUSPENDED, message, **extra)


# --- The view of the cluster -------------------------------------------------


class ClusterView(Protocol):
    """What the rules may ask about the cluster besides the object itself."""

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict | None:
        """Return the live object, or None when it does not exist."""

    def pods_matching(self, namespace: str, selector: dict) -> list[dict]:
        """Return the pods of a namespace matched by a selector."""

    def pods_for(self, workload: dict) -> list[dict]:
        """Return the pods selected by a workload's spec.selector."""

    def owned_by(self, kind: str, owner: dict) -> list[dict]:
        """Return the objects of a kind whose ownerReferences name the owner."""

    def endpoints_for(self, service: dict) -> list[dict] | None:
        """Return the ready endpoint addresses of a Service (None: unknown)."""

    def events_for(self, obj: dict) -> list[dict]:
        """Return the events about an object, oldest first."""

    def storage_class(self, name: str | None) -> dict | None:
        """Return a StorageClass by name, or the default class for None."""


def api_group(api_version: str) -> str:
    """Return the group part of an apiVersion ("" for the core group)."""
    return api_version.rpartition("/")[0]


def object_key(
    api_version: str, kind: str, namespace: str | None, name: str
) -> tuple[str, str, str, str]:
    """Return the lookup key of an object: group, kind, namespace, name."""
    return (api_group(api_version), kind, namespace or "", name)


class SnapshotView:
    """A ClusterView over lists fetched once (each item with kind/apiVersion).

    Absence means non-existence only for the (kind, namespace) pairs the
    caller listed; the engine lists everything the rules look up.
    """

    def __init__(self, objects: Iterable[dict]) -> None:
        self._objects: dict[tuple[str, str, str, str], dict] = {}
        self._by_kind: dict[tuple[str, str], list[dict]] = defaultdict(list)
        self._by_uid: dict[str, list[dict]] = defaultdict(list)
        self._endpoints_listed = False
        for obj in objects:
            self._add(obj)

    def _add(self, obj: dict) -> None:
        """Index one object by key, by (kind, namespace) and by event subject."""
        meta = obj.get("metadata", {})
        kind = obj.get("kind", "")
        namespace = meta.get("namespace") or ""
        key = object_key(obj.get("apiVersion", ""), kind, namespace, meta["name"])
        self._objects[key] = obj
        self._by_kind[(kind, namespace)].append(obj)
        if kind in ("Endpoints", "EndpointSlice"):
            self._endpoints_listed = True
        if kind == "Event":
            subject = obj.get("involvedObject") or obj.get("regarding") or {}
            self._by_uid[subject.get("uid") or _subject_key(subject)].append(obj)

    def get(self, api_version, kind, namespace, name):
        """Return the listed object, or None."""
        return self._objects.get(object_key(api_version, kind, namespace, name))

    def pods_matching(self, namespace, selector):
        """Return the listed pods of a namespace matched by a selector."""
        pods = self._by_kind.get(("Pod", namespace), [])
        return [pod for pod in pods if selector_matches(selector, _labels(pod))]

    def pods_for(self, workload):
        """Return the listed pods selected by a workload's spec.selector."""
        selector = workload.get("spec", {}).get("selector")
        if not selector:
            return []
        return self.pods_matching(_namespace(workload), selector)

    def owned_by(self, kind, owner):
        """Return the listed objects of a kind that the owner owns."""
        uid = owner.get("metadata", {}).get("uid")
        candidates = self._by_kind.get((kind, _namespace(owner)), [])
        return [obj for obj in candidates if uid and uid in _owner_uids(obj)]

    def endpoints_for(self, service):
        """Return ready addresses from Endpoints or EndpointSlices, if listed."""
        if not self._endpoints_listed:
            return None
        namespace, name = _namespace(service), service["metadata"]["name"]
        addresses = []
        endpoints = self.get("v1", "Endpoints", namespace, name)
        for subset in (endpoints or {}).get("subsets") or []:
            addresses.extend(subset.get("addresses") or [])
        for piece in self._by_kind.get(("EndpointSlice", namespace), []):
            if _labels(piece).get("kubernetes.io/service-name") != name:
                continue
            for endpoint in piece.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready", True):
                    addresses.append(endpoint)
        return addresses

    def events_for(self, obj):
        """Return the listed events about an object, oldest first."""
        meta = obj.get("metadata", {})
        subject = {
            "kind": obj.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
        }
        events = list(self._by_uid.get(meta.get("uid") or "", []))
        events += self._by_uid.get(_subject_key(subject), [])
        return sorted(events, key=_event_time)

    def storage_class(self, name):
        """Return a listed StorageClass by name, or the default one."""
        classes = self._by_kind.get(("StorageClass", ""), [])
        if name is not None:
            return next((c for c in classes if c["metadata"]["name"] == name), None)
        return next((c for c in classes if _is_default_class(c)), None)


def _subject_key(subject: dict) -> str:
    """Return a key for an event subject that carries no uid."""
    return "{}/{}/{}".format(
        subject.get("kind"), subject.get("namespace") or "", subject.get("name")
    )


def _event_time(event: dict) -> str:
    """Return the sortable time an event last happened."""
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("series") or {}).get("lastObservedTime")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


def _is_default_class(storage_class: dict) -> bool:
    """Return True when a StorageClass is annotated as the default."""
    annotations = storage_class.get("metadata", {}).get("annotations") or {}
    return "true" in (
        annotations.get("storageclass.kubernetes.io/is-default-class"),
        annotations.get("storageclass.beta.kubernetes.io/is-default-class"),
    )


# --- Small helpers over object dicts ----------------------------------------


def _labels(obj: dict) -> dict:
    """Return an object's labels."""
    return obj.get("metadata", {}).get("labels") or {}


def _namespace(obj: dict) -> str:
    """Return an object's namespace ("" when cluster-scoped)."""
    return obj.get("metadata", {}).get("namespace") or ""


def _owner_uids(obj: dict) -> set[str]:
    """Return the uids named in an object's ownerReferences."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return {ref.get("uid") for ref in refs}


def _condition(obj: dict, condition_type: str) -> dict | None:
    """Return a status condition by type."""
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition
    return None


def _condition_is(obj: dict, condition_type: str, status: str) -> bool:
    """Return True when a condition has the given status."""
    condition = _condition(obj, condition_type)
    return condition is not None and condition.get("status") == status


def _generation_observed(obj: dict) -> bool:
    """Return True when the controller has seen the latest spec."""
    generation = obj.get("metadata", {}).get("generation")
    observed = obj.get("status", {}).get("observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp from the API server."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def selector_matches(selector: dict, labels: dict) -> bool:
    """Return True when a selector matches labels.

    Accepts a LabelSelector (matchLabels / matchExpressions) or a Service's
    plain map. An empty selector matches nothing here, because a workload
    or Service with an empty selector selects nothing useful.
    """
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    return all(
        _expression_matches(e, labels) for e in selector.get("matchExpressions") or []
    )


def _expression_matches(expression: dict, labels: dict) -> bool:
    """Return True when one matchExpressions entry matches labels."""
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def _warning_events(view: ClusterView, obj: dict, limit: int = 3) -> list[dict]:
    """Return the last warning events about an object, with counts."""
    warnings = [e for e in view.events_for(obj) if e.get("type") == "Warning"]
    return [
        {
            "reason": e.get("reason"),
            "message": e.get("message") or e.get("note"),
            "count": e.get("count") or (e.get("series") or {}).get("count") or 1,
        }
        for e in warnings[-limit:]
    ]


# --- Pods --------------------------------------------------------------------


def _waiting_is_degraded(reason: str) -> bool:
    """Return True for a waiting reason that will not fix itself."""
    return (
        reason.startswith("Err")
        or reason.endswith(("BackOff", "Error"))
        or reason in PERMANENT_WAITING_REASONS
    )


def _container_statuses(pod: dict) -> list[dict]:
    """Return init and regular container statuses, init containers first."""
    status = pod.get("status", {})
    return (status.get("initContainerStatuses") or []) + (
        status.get("containerStatuses") or []
    )


def _container_evidence(pod: dict, container: dict) -> dict:
    """Collect what diagnosis needs about one container of a pod."""
    state = container.get("state") or {}
    last = (container.get("lastState") or {}).get("terminated") or {}
    terminated = state.get("terminated") or last
    evidence = {
        "pod": pod["metadata"]["name"],
        "container": container.get("name"),
        "restart_count": container.get("restartCount", 0),
        "image": container.get("image"),
    }
    if "waiting" in state:
        evidence["reason"] = state["waiting"].get("reason")
        evidence["waiting_message"] = state["waiting"].get("message")
    if terminated:
        evidence["terminated_reason"] = terminated.get("reason")
        evidence["exit_code"] = terminated.get("exitCode")
    return evidence


def _crash_message(container: dict, evidence: dict) -> str:
    """Describe a crash-looping container in plain words."""
    restarts = evidence["restart_count"]
    cause = evidence.get("terminated_reason") or "crashed"
    exit_code = evidence.get("exit_code")
    code = f", exit code {exit_code}" if exit_code is not None else ""
    times = "time" if restarts == 1 else "times"
    what = "runs out of memory" if cause == "OOMKilled" else "keeps crashing"
    return (
        f"container {container.get('name')} {what} ({cause}{code}), "
        f"restarted {restarts} {times}"
    )


def _assess_container(pod: dict, container: dict, restart_always: bool) -> Health:
    """Judge one container status of a pod; healthy means no problem seen."""
    state = container.get("state") or {}
    evidence = _container_evidence(pod, container)
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason") or ""
    if reason == "CrashLoopBackOff":
        return degraded(_crash_message(container, evidence), evidence=evidence)
    if reason and _waiting_is_degraded(reason):
        return degraded(waiting.get("message") or reason, evidence=evidence)
    terminated = state.get("terminated") or {}
    if terminated.get("reason") == "OOMKilled":
        message = f"container {container.get('name')} was killed: out of memory"
        return degraded(message, evidence=evidence)
    if restart_always and terminated and terminated.get("exitCode", 0) != 0:
        return degraded(_crash_message(container, evidence), evidence=evidence)
    restarted_unready = (
        "running" in state
        and not container.get("ready", False)
        and container.get("restartCount", 0) > 0
    )
    if restarted_unready:
        message = (
            f"container {container.get('name')} restarted and is not ready "
            f"(restarted {evidence['restart_count']} times)"
        )
        return degraded(message, evidence=evidence)
    return healthy()


def _unschedulable(pod: dict) -> Health | None:
    """Return a degraded Health when the scheduler cannot place the pod."""
    condition = _condition(pod, "PodScheduled")
    unschedulable = (
        condition is not None
        and condition.get("status") == "False"
        and condition.get("reason") == "Unschedulable"
    )
    if not unschedulable:
        return None
    evidence = {
        "pod": pod["metadata"]["name"],
        "condition": "PodScheduled",
        "reason": "Unschedulable",
        "message": condition.get("message"),
    }
    message = condition.get("message") or "no node can run this pod"
    return degraded(message, evidence=evidence)


def assess_pod(pod: dict, view: ClusterView | None = None) -> Health:
    """Judge a Pod: ready or succeeded, starting, or failing."""
    status = pod.get("status", {})
    phase = status.get("phase") or "Pending"
    name = pod.get("metadata", {}).get("name")
    if phase == "Succeeded":
        return healthy("completed")
    if phase == "Failed":
        message = status.get("message") or status.get("reason") or "the pod failed"
        return degraded(message, evidence={"pod": name, "reason": status.get("reason")})
    unschedulable = _unschedulable(pod)
    if unschedulable:
        return unschedulable
    restart_always = pod.get("spec", {}).get("restartPolicy", "Always") == "Always"
    problems = [
        _assess_container(pod, c, restart_always) for c in _container_statuses(pod)
    ]
    problem = next((h for h in problems if h.state == HealthState.DEGRADED), None)
    if problem:
        if view is not None:
            problem.evidence["events"] = _warning_events(view, pod)
        return problem
    if phase == "Running" and _condition_is(pod, "Ready", "True"):
        return healthy("running")
    return progressing(_starting_message(pod, phase), evidence={"pod": name})


def _starting_message(pod: dict, phase: str) -> str:
    """Describe why a pod that is not failing is not ready yet."""
    for container in _container_statuses(pod):
        reason = ((container.get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            return f"container {container.get('name')}: {reason}"
    if phase == "Running":
        return "running, not ready yet"
    return "pending"


def _is_terminating(obj: dict) -> bool:
    """Return True when an object is being deleted."""
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def _first_degraded_pod(pods: Iterable[dict], view: ClusterView) -> Health | None:
    """Return the health of the first degraded pod, if any."""
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if _is_terminating(pod):
            continue
        health = assess_pod(pod, view)
        if health.state == HealthState.DEGRADED:
            return health
    return None


def _with_counts(health: Health, ready: int, desired: int) -> Health:
    """Attach ready/desired counts to a Health and return it."""
    health.ready, health.desired = ready, desired
    return health


def _ready_message(ready: int, desired: int) -> str:
    """Return the "ready / desired" wording."""
    return f"{ready}/{desired} ready"


# --- Workloads ---------------------------------------------------------------


def _current_replica_set(deployment: dict, view: ClusterView) -> dict | None:
    """Return the ReplicaSet of the deployment's current revision."""
    replica_sets = view.owned_by("ReplicaSet", deployment)
    if not replica_sets:
        return None
    revision_key = "deployment.kubernetes.io/revision"
    annotations = deployment.get("metadata", {}).get("annotations") or {}
    revision = annotations.get(revision_key)
    for rs in replica_sets:
        rs_annotations = rs.get("metadata", {}).get("annotations") or {}
        if revision and rs_annotations.get(revision_key) == revision:
            return rs
    return max(
        replica_sets,
        key=lambda rs: (
            rs["metadata"].get("creationTimestamp") or "",
            rs["metadata"]["name"],
        ),
    )


def _current_deployment_pods(deployment: dict, view: ClusterView) -> list[dict]:
    """Return the pods of the deployment's current ReplicaSet.

    Without ReplicaSets in the view, every pod the selector matches counts.
    """
    pods = view.pods_for(deployment)
    current = _current_replica_set(deployment, view)
    if current is None:
        return pods
    uid = current["metadata"].get("uid")
    return [pod for pod in pods if uid in _owner_uids(pod)]


def assess_deployment(deployment: dict, view: ClusterView) -> Health:
    """Judge a Deployment like `kubectl rollout status`, plus its pods."""
    spec, status = deployment.get("spec", {}), deployment.get("status", {})
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if spec.get("paused"):
        return _with_counts(suspended("rollout paused"), ready, desired)
    if not _generation_observed(deployment):
        return _with_counts(
            progressing("waiting for the rollout to start"), ready, desired
        )
    progress = _condition(deployment, "Progressing") or {}
    if progress.get("reason") == "ProgressDeadlineExceeded":
        evidence = {"condition": "Progressing", "reason": "ProgressDeadlineExceeded"}
        evidence["message"] = progress.get("message")
        health = degraded("progress deadline exceeded", evidence=evidence)
        return _with_counts(health, ready, desired)
    pod_problem = _first_degraded_pod(_current_deployment_pods(deployment, view), view)
    if pod_problem:
        return _with_counts(pod_problem, ready, desired)
    return _with_counts(_deployment_rollout(status, desired), ready, desired)


def _deployment_rollout(status: dict, desired: int) -> Health:
    """Judge the replica counts of an observed Deployment."""
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    ready = status.get("readyReplicas", 0)
    if updated < desired:
        return progressing(
            f"{updated}/{desired} updated, {_ready_message(ready, desired)}"
        )
    if total > updated:
        old = total - updated
        noun = "replica" if old == 1 else "replicas"
        return progressing(f"{old} old {noun} still terminating")
    if available < updated:
        return progressing(_ready_message(min(ready, available), desired))
    if desired == 0:
        return healthy("scaled to zero")
    return healthy(_ready_message(ready, desired))


def assess_statefulset(statefulset: dict, view: ClusterView) -> Health:
    """Judge a StatefulSet: ready, updated revision, no failing pod."""
    spec, status = statefulset.get("spec", {}), statefulset.get("status", {})
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if not _generation_observed(statefulset):
        return _with_counts(
            progressing("waiting for the rollout to start"), ready, desired
        )
    pod_problem = _first_degraded_pod(view.pods_for(statefulset), view)
    if pod_problem:
        return _with_counts(pod_problem, ready, desired)
    if ready < desired:
        return _with_counts(progressing(_ready_message(ready, desired)), ready, desired)
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "OnDelete":
        return _with_counts(healthy(_ready_message(ready, desired)), ready, desired)
    partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
    if partition:
        updated = status.get("updatedReplicas", 0)
        if updated < desired - partition:
            message = f"{updated}/{desired - partition} updated (partition {partition})"
            return _with_counts(progressing(message), ready, desired)
        return _with_counts(healthy(_ready_message(ready, desired)), ready, desired)
    if status.get("updateRevision") != status.get("currentRevision"):
        updated = status.get("updatedReplicas", 0)
        message = f"{updated}/{desired} updated to the new revision"
        return _with_counts(progressing(message), ready, desired)
    return _with_counts(healthy(_ready_message(ready, desired)), ready, desired)


def assess_daemonset(daemonset: dict, view: ClusterView) -> Health:
    """Judge a DaemonSet: one ready, updated pod per scheduled node."""
    status = daemonset.get("status", {})
    desired = status.get("desiredNumberScheduled", 0)
    ready = status.get("numberReady", 0)
    if not _generation_observed(daemonset):
        return _with_counts(
            progressing("waiting for the rollout to start"), ready, desired
        )
    pod_problem = _first_degraded_pod(view.pods_for(daemonset), view)
    if pod_problem:
        return _with_counts(pod_problem, ready, desired)
    updated = status.get("updatedNumberScheduled", 0)
    if updated < desired:
        message = f"{updated}/{desired} updated, {_ready_message(ready, desired)}"
        return _with_counts(progressing(message), ready, desired)
    if ready < desired:
        return _with_counts(progressing(_ready_message(ready, desired)), ready, desired)
    return _with_counts(healthy(_ready_message(ready, desired)), ready, desired)


def assess_replicaset(replica_set: dict, view: ClusterView) -> Health:
    """Judge a ReplicaSet: available replicas and no failing pod."""
    spec, status = replica_set.get("spec", {}), replica_set.get("status", {})
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    if not _generation_observed(replica_set):
        return _with_counts(progressing("waiting for the controller"), ready, desired)
    failure = _condition(replica_set, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        evidence = {"condition": "ReplicaFailure", "reason": failure.get("reason")}
        health = degraded(
            failure.get("message") or "cannot create pods", evidence=evidence
        )
        return _with_counts(health, ready, desired)
    pod_problem = _first_degraded_pod(view.pods_for(replica_set), view)
    if pod_problem:
        return _with_counts(pod_problem, ready, desired)
    if status.get("availableReplicas", 0) < desired:
        return _with_counts(progressing(_ready_message(ready, desired)), ready, desired)
    return _with_counts(healthy(_ready_message(ready, desired)), ready, desired)


def assess_job(job: dict, view: ClusterView) -> Health:
    """Judge a Job by its Complete/Failed conditions and stuck pods."""
    status = job.get("status", {})
    failed = _condition(job, "Failed")
    if failed and failed.get("status") == "True":
        reason = failed.get("reason") or "Failed"
        message = failed.get("message") or reason
        evidence = {
            "condition": "Failed",
            "reason": reason,
            "failed": status.get("failed"),
        }
        return degraded(f"{reason}: {message}", evidence=evidence)
    if _condition_is(job, "Complete", "True"):
        return healthy("completed", ready=status.get("succeeded", 0))
    if job.get("spec", {}).get("suspend"):
        return suspended("suspended")
    stuck = _stuck_job_pod(view.pods_for(job), view)
    if stuck:
        return stuck
    active = status.get("active", 0)
    return progressing(f"running ({active} active)" if active else "starting")


def _stuck_job_pod(pods: Iterable[dict], view: ClusterView) -> Health | None:
    """Return the health of a Job pod that retries cannot fix.

    A Job pod that crashes is retried up to the backoff limit, so only
    reasons that no retry changes (a missing image, a missing ConfigMap
    key, nowhere to schedule) fail the Job early.
    """
    for pod in pods:
        health = assess_pod(pod, view)
        reason = health.evidence.get("reason")
        if health.state == HealthState.DEGRADED and reason in JOB_BLOCKING_REASONS:
            return health
    return None


def assess_cronjob(cronjob: dict, view: ClusterView) -> Health:
    """Judge a CronJob by its last scheduled job."""
    spec, status = cronjob.get("spec", {}), cronjob.get("status", {})
    if spec.get("suspend"):
        return suspended("suspended")
    if status.get("active"):
        return progressing("a job is running")
    last_scheduled = parse_time(status.get("lastScheduleTime"))
    if last_scheduled is None:
        return healthy("no job scheduled yet")
    last_job = _last_job(view.owned_by("Job", cronjob))
    if last_job is not None:
        job_health = assess_job(last_job, view)
        if job_health.state == HealthState.DEGRADED:
            job_health.message = f"its last job failed: {job_health.message}"
            job_health.evidence["job"] = last_job["metadata"]["name"]
            return job_health
        if job_health.state == HealthState.HEALTHY:
            return healthy("last job succeeded")
    last_success = parse_time(status.get("lastSuccessfulTime"))
    if last_success is not None and last_success >= last_scheduled:
        return healthy("last job succeeded")
    return degraded("its last job did not succeed")


def _last_job(jobs: list[dict]) -> dict | None:
    """Return the most recently created job."""
    if not jobs:
        return None
    return max(jobs, key=lambda j: j["metadata"].get("creationTimestamp") or "")


# --- Networking --------------------------------------------------------------


def _is_ready_pod(pod: dict) -> bool:
    """Return True for a running, ready pod that is not being deleted."""
    return (
        not _is_terminating(pod)
        and pod.get("status", {}).get("phase") == "Running"
        and _condition_is(pod, "Ready", "True")
    )


def assess_service(service: dict, view: ClusterView) -> Health:
    """Judge a Service: its address, and whether it selects a ready pod.

    With a selector, the Service is:
    - healthy when at least one ready pod matches its selector;
    - healthy with a warning while no matching pod is ready but some
      matching pod exists (it is starting), or while no pod of its workflow
      in its namespace is ready yet (the workload has not started);
    - degraded when no pod matches its selector although pods of the same
      workflow (label kubeorch.io/workflow) in its namespace are ready:
      the pods it was meant for are up but it does not select them.
    A Service without a selector (endpoints managed by hand) or of type
    ExternalName is healthy once it exists.
    """
    spec = service.get("spec", {})
    service_type = spec.get("type", "ClusterIP")
    if service_type == "ExternalName":
        return healthy(f"points at {spec.get('externalName')}")
    if service_type == "LoadBalancer" and not _load_balancer_addresses(service):
        return progressing("waiting for a load balancer address")
    selector = spec.get("selector")
    if not selector:
        return healthy("no selector: endpoints are managed by hand")
    return _service_selection(service, selector, view)


def _service_selection(service: dict, selector: dict, view: ClusterView) -> Health:
    """Judge whether a Service's selector reaches ready pods."""
    namespace = _namespace(service)
    selected = view.pods_matching(namespace, selector)
    ready = [pod for pod in selected if _is_ready_pod(pod)]
    evidence = {"selector": selector, "selected_pods": len(selected)}
    warnings = _port_warnings(service, ready)
    if ready:
        return healthy(
            f"{len(ready)} ready endpoints",
            ready=len(ready),
            evidence=evidence,
            warnings=warnings,
        )
    if selected:
        warning = f"selects no ready pod yet: {len(selected)} starting"
        return healthy(warning, evidence=evidence, warnings=[warning])
    ready_elsewhere = _ready_workflow_pods(service, view)
    if ready_elsewhere:
        evidence["ready_pod_labels"] = [_labels(p) for p in ready_elsewhere[:5]]
        selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        message = f"selects no pod: no pod in {namespace} has labels {selector_text}"
        return degraded(message, evidence=evidence)
    warning = "selects no pod yet"
    return healthy(warning, evidence=evidence, warnings=[warning])


def _ready_workflow_pods(service: dict, view: ClusterView) -> list[dict]:
    """Return ready pods of the Service's workflow in its namespace."""
    workflow = _labels(service).get("kubeorch.io/workflow")
    if not workflow:
        return []
    pods = view.pods_matching(_namespace(service), {"kubeorch.io/workflow": workflow})
    return [pod for pod in pods if _is_ready_pod(pod)]


def _port_warnings(service: dict, pods: list[dict]) -> list[str]:
    """Warn about numeric target ports no selected container declares."""
    if not pods:
        return []
    declared = {
        port.get("containerPort")
        for pod in pods
        for container in pod.get("spec", {}).get("containers") or []
        for port in container.get("ports") or []
    }
    if not declared:
        return []
    warnings = []
    for port in service.get("spec", {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, int) and target not in declared:
            ports = ", ".join(str(p) for p in sorted(declared))
            warnings.append(f"target port {target} is not a container port ({ports})")
    return warnings


def _load_balancer_addresses(obj: dict) -> list[dict]:
    """Return the addresses in status.loadBalancer.ingress."""
    return (obj.get("status", {}).get("loadBalancer") or {}).get("ingress") or []


def _ingress_backend_services(ingress: dict) -> list[str]:
    """Return the names of the Services an Ingress routes to, in order."""
    spec = ingress.get("spec", {})
    backends = [spec.get("defaultBackend") or {}]
    for rule in spec.get("rules") or []:
        backends += [
            p.get("backend") or {} for p in (rule.get("http") or {}).get("paths") or []
        ]
    names = [(b.get("service") or {}).get("name") for b in backends]
    return list(dict.fromkeys(name for name in names if name))


def assess_ingress(
    ingress: dict,
    view: ClusterView,
    now: datetime,
    grace: float = INGRESS_GRACE_SECONDS,
) -> Health:
    """Judge an Ingress: its backends exist, and it has an address."""
    namespace = _namespace(ingress)
    missing = [
        name
        for name in _ingress_backend_services(ingress)
        if view.get("v1", "Service", namespace, name) is None
    ]
    if missing:
        names = ", ".join(missing)
        noun = "Service" if len(missing) == 1 else "Services"
        return degraded(
            f"backend {noun} {names} not found in {namespace}",
            evidence={"missing_services": missing},
        )
    if _load_balancer_addresses(ingress):
        return healthy("has an address")
    created = parse_time(ingress.get("metadata", {}).get("creationTimestamp"))
    if created is not None and (now - created).total_seconds() >= grace:
        warning = "the controller published no address"
        return healthy(warning, warnings=[warning])
    return progressing("waiting for the ingress controller to publish an address")


# --- Storage and autoscaling -------------------------------------------------


def assess_pvc(claim: dict, view: ClusterView) -> Health:
    """Judge a PersistentVolumeClaim: bound, waiting, or unable to bind."""
    phase = claim.get("status", {}).get("phase") or "Pending"
    if phase == "Bound":
        return healthy("bound")
    if phase == "Lost":
        return degraded("its volume was lost", evidence={"phase": "Lost"})
    failure = _provisioning_failure(claim, view)
    if failure:
        return failure
    class_name = claim.get("spec", {}).get("storageClassName")
    if class_name == "":
        return progressing("waiting for a matching volume")
    storage_class = view.storage_class(class_name)
    if storage_class is None and class_name is not None:
        return degraded(
            f'storage class "{class_name}" does not exist',
            evidence={"storage_class": class_name, "phase": phase},
        )
    if storage_class is None:
        return progressing("waiting to be bound (no default storage class)")
    if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
        return progressing("waiting for a consumer", waiting_for_consumer=True)
    return progressing("waiting to be bound")


def _provisioning_failure(claim: dict, view: ClusterView) -> Health | None:
    """Return a degraded Health when a ProvisioningFailed event was seen."""
    events = [
        e for e in view.events_for(claim) if e.get("reason") == "ProvisioningFailed"
    ]
    if not events:
        return None
    last = events[-1]
    message = last.get("message") or last.get("note") or "provisioning failed"
    return degraded(message, evidence={"events": _warning_events(view, claim)})


HPA_CANNOT_SCALE_REASONS = frozenset(
    {"FailedGetScale", "FailedUpdateScale", "FailedRescale", "InvalidSelector"}
)


def assess_hpa(hpa: dict) -> Health:
    """Judge a HorizontalPodAutoscaler by its conditions."""
    status = hpa.get("status", {})
    able = _condition(hpa, "AbleToScale")
    active = _condition(hpa, "ScalingActive")
    limited = _condition(hpa, "ScalingLimited")
    counts = {
        "ready": status.get("currentReplicas"),
        "desired": status.get("desiredReplicas"),
    }
    if able and able.get("status") == "False":
        return _hpa_failure(able, "cannot get its scale target", counts)
    if active and active.get("status") == "False":
        return _hpa_inactive(hpa, active, counts)
    if not able or not active:
        return progressing("waiting for metrics", **counts)
    if limited and limited.get("status") == "True":
        return healthy(f"limited within range: {limited.get('message')}", **counts)
    return healthy("scaling active", **counts)


def _hpa_failure(condition: dict, fallback: str, counts: dict) -> Health:
    """Build a degraded HPA health from a failing condition."""
    evidence = {"condition": condition.get("type"), "reason": condition.get("reason")}
    message = condition.get("message") or fallback
    return degraded(message, evidence=evidence, **counts)


def _hpa_inactive(hpa: dict, condition: dict, counts: dict) -> Health:
    """Judge an HPA whose ScalingActive condition is false.

    Metrics missing before the first reading are a wait; a target without
    resource requests or an invalid selector is a failure.
    """
    reason = condition.get("reason") or ""
    message = condition.get("message") or reason
    if reason == "ScalingDisabled":
        return suspended("scaling is disabled (the target has 0 replicas)", **counts)
    if "missing request for" in message or reason in HPA_CANNOT_SCALE_REASONS:
        return _hpa_failure(condition, "cannot read metrics", counts)
    first_reading = not hpa.get("status", {}).get("currentMetrics")
    if reason.startswith("FailedGet") and first_reading:
        return progressing("waiting for metrics", **counts)
    return _hpa_failure(condition, "cannot read metrics", counts)


# --- Everything else ---------------------------------------------------------


def assess_namespace(namespace: dict) -> Health:
    """Judge a Namespace: active, or being torn down."""
    if namespace.get("status", {}).get("phase") == "Terminating":
        return progressing("deleting")
    return healthy("active")


def assess_ready_condition(obj: dict) -> Health:
    """Judge a custom resource by its Ready condition, if it has one."""
    ready = _condition(obj, "Ready")
    if ready is None:
        return healthy("exists")
    message = ready.get("message") or ready.get("reason") or ""
    if ready.get("status") == "True":
        return healthy(message or "ready")
    evidence = {"condition": "Ready", "reason": ready.get("reason")}
    if ready.get("status") == "False":
        return degraded(message or "not ready", evidence=evidence)
    return progressing(message or "not ready yet", evidence=evidence)


EXISTS_KINDS = frozenset({"ConfigMap", "Secret", "NetworkPolicy", "ServiceAccount"})


def assess(
    obj: dict,
    view: ClusterView,
    now: datetime,
    *,
    ingress_grace: float = INGRESS_GRACE_SECONDS,
) -> Health:
    """Judge one live object (never None) by the rules of its kind."""
    if _is_terminating(obj):
        return progressing("deleting")
    try:
        return _assess_kind(obj, view, now, ingress_grace)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        logger.warning(
            "could not assess %s %s: %r", obj.get("kind"), _display_name(obj), error
        )
        return Health(HealthState.UNKNOWN, f"could not read its status: {error!r}")


def _assess_kind(obj: dict, view: ClusterView, now: datetime, grace: float) -> Health:
    """Dispatch to the rule of the object's kind."""
    kind = obj.get("kind")
    by_kind = {
        "Deployment": assess_deployment,
        "StatefulSet": assess_statefulset,
        "DaemonSet": assess_daemonset,
        "ReplicaSet": assess_replicaset,
        "Job": assess_job,
        "CronJob": assess_cronjob,
        "Pod": assess_pod,
        "Service": assess_service,
        "PersistentVolumeClaim": assess_pvc,
    }
    if kind in by_kind:
        return by_kind[kind](obj, view)
    if kind == "Ingress":
        return assess_ingress(obj, view, now, grace)
    if kind == "HorizontalPodAutoscaler":
        return assess_hpa(obj)
    if kind == "Namespace":
        return assess_namespace(obj)
    if kind in EXISTS_KINDS:
        return healthy("exists")
    return assess_ready_condition(obj)


def _display_name(obj: dict) -> str:
    """Return namespace/name of an object for messages."""
    meta = obj.get("metadata", {})
    if meta.get("namespace"):
        return f"{meta['namespace']}/{meta.get('name')}"
    return str(meta.get("name"))


def manifest_namespace(manifest: dict) -> str | None:
    """Return a manifest's namespace ("default" when namespaced and unset)."""
    if manifest.get("kind") in CLUSTER_SCOPED_KINDS:
        return None
    return manifest.get("metadata", {}).get("namespace") or "default"


def assess_node(
    manifests: Sequence[dict],
    view: ClusterView,
    now: datetime,
    *,
    ingress_grace: float = INGRESS_GRACE_SECONDS,
) -> Health:
    """Judge a node as the worst of its manifests' health.

    Accepts a RenderedNode (anything with .manifests) or its manifest list.
    The main (first) manifest gives the ready / desired counts.
    """
    manifests = getattr(manifests, "manifests", manifests)
    parts = [_assess_manifest(m, view, now, ingress_grace) for m in manifests]
    if not parts:
        return Health(HealthState.UNKNOWN, "the node renders nothing")
    return _combine(parts)


def _assess_manifest(
    manifest: dict, view: ClusterView, now: datetime, grace: float
) -> Health:
    """Look a manifest's live object up and judge it."""
    name = manifest.get("metadata", {}).get("name", "")
    namespace = manifest_namespace(manifest)
    live = view.get(
        manifest.get("apiVersion", ""), manifest.get("kind", ""), namespace, name
    )
    if live is None:
        where = f" in {namespace}" if namespace else ""
        return Health(
            HealthState.MISSING, f"{manifest.get('kind')} {name} not found{where}"
        )
    return assess(live, view, now, ingress_grace=grace)


def _combine(parts: list[Health]) -> Health:
    """Merge per-manifest healths into a node's health."""
    main = parts[0]
    worst_part = max(parts, key=lambda h: h.state.severity)
    if worst_part.state == main.state:
        worst_part = main
    warnings = [w for part in parts for w in part.warnings]
    waiting = all(p.done for p in parts if not p.waiting_for_consumer) and any(
        p.waiting_for_consumer for p in parts
    )
    return Health(
        state=worst_part.state,
        message=worst_part.message,
        ready=main.ready,
        desired=main.desired,
        warnings=list(dict.fromkeys(warnings)),
        evidence=worst_part.evidence,
        waiting_for_consumer=waiting and worst_part.state == HealthState.PROGRESSING,
    )
