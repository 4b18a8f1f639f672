"""Questions the controllers ask about pods: active, ready, requests, template."""

from __future__ import annotations

from ..store import clone
from .meta import condition_is, find_condition, is_deleting, seconds_of
from .quantities import quantity_or_zero

TERMINAL_PHASES = ("Succeeded", "Failed")
RESOURCES = ("cpu", "memory")


def phase(pod: dict) -> str:
    """Return the pod phase (Pending when not yet reported)."""
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_terminal(pod: dict) -> bool:
    """Return whether the pod has finished (Succeeded or Failed)."""
    return phase(pod) in TERMINAL_PHASES


def is_active(pod: dict) -> bool:
    """Return whether the pod counts towards a controller's replicas."""
    return not is_terminal(pod) and not is_deleting(pod)


def is_ready(pod: dict) -> bool:
    """Return whether the pod's Ready condition is True."""
    return condition_is(pod.get("status"), "Ready")


def is_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    """Return whether the pod has been ready for at least min_ready_seconds."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = seconds_of(
        find_condition(pod.get("status"), "Ready").get("lastTransitionTime")
    )
    return since is not None and since + min_ready_seconds <= now


def available_at(pod: dict, min_ready_seconds: int) -> float | None:
    """Return when a ready pod becomes available, None when it is not ready."""
    if not is_ready(pod):
        return None
    since = seconds_of(
        find_condition(pod.get("status"), "Ready").get("lastTransitionTime")
    )
    return (since or 0.0) + (min_ready_seconds or 0)


def is_scheduled(pod: dict) -> bool:
    """Return whether the pod has been bound to a node."""
    return bool((pod.get("spec") or {}).get("nodeName"))


def restart_count(pod: dict) -> int:
    """Return the highest restart count among the pod's containers."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((s.get("restartCount", 0) for s in statuses), default=0)


def container_requests(container: dict) -> dict[str, float]:
    """Return cpu (cores) and memory (bytes) a container requests.

    A limit without a request counts as the request, as the API server's
    defaulting does.
    """
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    return {
        name: quantity_or_zero(requests.get(name, limits.get(name)))
        for name in RESOURCES
    }


def pod_requests(pod: dict) -> dict[str, float]:
    """Return what the scheduler reserves for a pod (init containers included)."""
    spec = pod.get("spec") or {}
    total = {name: 0.0 for name in RESOURCES}
    for container in spec.get("containers") or []:
        for name, value in container_requests(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in container_requests(container).items():
            total[name] = max(total[name], value)
    for name, value in (spec.get("overhead") or {}).items():
        if name in total:
            total[name] += quantity_or_zero(value)
    return total


def qos_class(pod: dict) -> str:
    """Return the pod's QoS class: Guaranteed, Burstable or BestEffort."""
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in RESOURCES:
            limit = limits.get(name)
            if limit is None or quantity_or_zero(
                requests.get(name, limit)
            ) != quantity_or_zero(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def pod_from_template(
    template: dict, namespace: str, name: str, owner_ref: dict
) -> dict:
    """Return a new pod object stamped from a workload's pod template."""
    meta = clone((template or {}).get("metadata") or {})
    spec = clone((template or {}).get("spec") or {})
    meta.pop("name", None)
    meta.pop("namespace", None)
    meta.pop("creationTimestamp", None)
    meta["name"] = name
    meta["namespace"] = namespace
    meta["ownerReferences"] = [owner_ref]
    _default_pod_spec(spec)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": qos_class({"spec": spec})},
    }


def _default_pod_spec(spec: dict) -> None:
    """Fill in what the API server's admission adds to every new pod."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            )
    for container in spec.get("containers") or []:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})


def pod_rank(pod: dict) -> tuple:
    """Return a sort key putting the pods to delete first (as ReplicaSets do)."""
    status = pod.get("status") or {}
    ready_since = seconds_of(
        (find_condition(status, "Ready") or {}).get("lastTransitionTime")
    )
    return (
        1 if is_scheduled(pod) else 0,
        {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase(pod), 2),
        1 if is_ready(pod) else 0,
        -(ready_since or 0.0) if is_ready(pod) else 0.0,
        -restart_count(pod),
        -(seconds_of(pod["metadata"].get("creationTimestamp")) or 0.0),
        pod["metadata"]["name"],
    )
