"""Whether a pod may run on a node: readiness, selectors, affinity, taints."""

from __future__ import annotations

from ..selectors import Requirement
from .meta import condition_is
from .quantities import quantity_or_zero

NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {
    "key": "node.kubernetes.io/unschedulable",
    "effect": "NoSchedule",
}
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


def is_ready(node: dict) -> bool:
    """Return whether the node's Ready condition is True."""
    return condition_is(node.get("status"), "Ready")


def allocatable(node: dict) -> dict[str, float]:
    """Return what a node offers pods: cpu cores, memory bytes, pod count."""
    values = (node.get("status") or {}).get("allocatable") or {}
    return {
        "cpu": quantity_or_zero(values.get("cpu")),
        "memory": quantity_or_zero(values.get("memory")),
        "pods": quantity_or_zero(values.get("pods", "110")),
    }


def internal_ip(node: dict) -> str:
    """Return the node's InternalIP address."""
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return address.get("address", "")
    return ""


def effective_taints(node: dict) -> list[dict]:
    """Return the node's taints plus the ones its state implies."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    if not is_ready(node):
        taints.append(NOT_READY_TAINT)
    if (node.get("spec") or {}).get("unschedulable"):
        taints.append(UNSCHEDULABLE_TAINT)
    return taints


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Return whether any toleration matches the taint."""
    for toleration in tolerations or []:
        effect = toleration.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration.get("key") == taint.get("key"):
                return True
            continue
        if toleration.get("key") == taint.get("key") and (
            toleration.get("value") or ""
        ) == (taint.get("value") or ""):
            return True
    return False


def untolerated_taint(pod_spec: dict, node: dict) -> dict | None:
    """Return the first scheduling-blocking taint the pod does not tolerate."""
    for taint in effective_taints(node):
        if taint.get("effect") not in BLOCKING_EFFECTS:
            continue
        if not tolerates(pod_spec.get("tolerations") or [], taint):
            return taint
    return None


def matches_node(pod_spec: dict, node: dict) -> bool:
    """Return whether the node satisfies the pod's nodeSelector and node affinity."""
    labels = node["metadata"].get("labels") or {}
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not affinity:
        return True
    terms = affinity.get("nodeSelectorTerms") or []
    return any(term_matches(term, node) for term in terms)


def term_matches(term: dict, node: dict) -> bool:
    """Return whether a node satisfies one nodeSelectorTerm (all its clauses)."""
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    expressions = term.get("matchExpressions") or []
    field_expressions = term.get("matchFields") or []
    if not expressions and not field_expressions:
        return False
    return all(_requirement(e).matches(labels) for e in expressions) and all(
        _requirement(e).matches(fields) for e in field_expressions
    )


def _requirement(expression: dict) -> Requirement:
    return Requirement(
        expression.get("key", ""),
        expression.get("operator", "In"),
        tuple(str(v) for v in expression.get("values") or ()),
    )


def describe_taint(taint: dict) -> str:
    """Render a taint the way scheduler messages do: {key: value}."""
    return f"{{{taint.get('key')}: {taint.get('value') or ''}}}"
