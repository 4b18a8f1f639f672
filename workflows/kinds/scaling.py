"""The HorizontalPodAutoscaler kind."""

from typing import Any

from workflows.kinds import fields as f
from workflows.kinds.base import TIER_AUTOSCALER, NodeKind, Port, RenderContext
from workflows.kinds.common import (
    add_error,
    check_labels,
    link_ref,
    merge_errors,
    metadata_fields,
)
from workflows.kinds.graph import CanvasGraph
from workflows.kinds.workloads import MAX_REPLICAS, SCALABLE

TARGET_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet"}
WINDOW = {"minimum": 0, "maximum": 3600}

HPA_FIELDS = (
    *metadata_fields(),
    f.integer(
        "minReplicas",
        "Minimum replicas",
        required=True,
        default=1,
        minimum=1,
        maximum=MAX_REPLICAS,
    ),
    f.integer(
        "maxReplicas",
        "Maximum replicas",
        default=5,
        required=True,
        minimum=1,
        maximum=MAX_REPLICAS,
    ),
    f.integer(
        "targetCPUUtilization",
        "CPU target (%)",
        default=80,
        minimum=1,
        maximum=1000,
        help=(
            "Average CPU use as a share of the pods' CPU requests; empty: no CPU "
            "target."
        ),
    ),
    f.integer(
        "targetMemoryUtilization",
        "Memory target (%)",
        minimum=1,
        maximum=1000,
        help="Average memory use as a share of the pods' memory requests.",
    ),
    f.integer(
        "scaleUpStabilizationWindowSeconds",
        "Scale-up window (s)",
        **WINDOW,
        help="Look back this long before scaling up; empty: 0.",
    ),
    f.integer(
        "scaleDownStabilizationWindowSeconds",
        "Scale-down window (s)",
        **WINDOW,
        help="Look back this long before scaling down; empty: 300.",
    ),
)


def hpa_target(graph: CanvasGraph, hpa_id: str) -> dict | None:
    """Return the workload node an HPA scales, or None."""
    pair = graph.first_target(hpa_id, *SCALABLE)
    return pair[1] if pair else None


def check_hpa(data: dict) -> dict[str, list[str]]:
    """Check the replica range and that the HPA has something to measure."""
    errors: dict[str, list[str]] = {}
    low, high = data.get("minReplicas"), data.get("maxReplicas")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        add_error(
            errors, "maxReplicas", "Maximum replicas must be at least the minimum."
        )
    if (
        data.get("targetCPUUtilization") is None
        and data.get("targetMemoryUtilization") is None
    ):
        add_error(errors, "targetCPUUtilization", "Set a CPU or a memory target.")
    return merge_errors(errors, check_labels(data))


def hpa_links(node: dict, graph: CanvasGraph) -> dict:
    """Return the `_linkedTarget` of an HPA."""
    target = hpa_target(graph, node["id"])
    return {"_linkedTarget": link_ref(target) if target else None}


def render_hpa(ctx: RenderContext) -> list[dict]:
    """Render an autoscaling/v2 HPA scaling its linked workload."""
    data = ctx.data
    target = hpa_target(ctx.graph, ctx.node["id"])
    reference = {
        "apiVersion": "apps/v1",
        "kind": TARGET_KINDS[target["type"]] if target else "Deployment",
        "name": target["data"]["name"] if target else "",
    }
    spec: dict[str, Any] = {
        "scaleTargetRef": reference,
        "minReplicas": data["minReplicas"],
        "maxReplicas": data["maxReplicas"],
        "metrics": _metrics(data),
    }
    behavior = _behavior(data)
    if behavior:
        spec["behavior"] = behavior
    manifest = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": ctx.metadata(),
        "spec": spec,
    }
    return [manifest]


def _metrics(data: dict) -> list[dict]:
    metrics = []
    for resource, key in (
        ("cpu", "targetCPUUtilization"),
        ("memory", "targetMemoryUtilization"),
    ):
        if data.get(key) is not None:
            target = {"type": "Utilization", "averageUtilization": data[key]}
            metrics.append(
                {"type": "Resource", "resource": {"name": resource, "target": target}}
            )
    return metrics


def _behavior(data: dict) -> dict:
    behavior = {}
    for direction, key in (
        ("scaleUp", "scaleUpStabilizationWindowSeconds"),
        ("scaleDown", "scaleDownStabilizationWindowSeconds"),
    ):
        if data.get(key) is not None:
            behavior[direction] = {"stabilizationWindowSeconds": data[key]}
    return behavior


def _summary(data: dict) -> dict:
    return {
        "minReplicas": data.get("minReplicas"),
        "maxReplicas": data.get("maxReplicas"),
        "cpu": data.get("targetCPUUtilization"),
    }


HPA = NodeKind(
    key="hpa",
    label="HorizontalPodAutoscaler",
    group="Scaling & policy",
    icon="trending-up",
    api_version="autoscaling/v2",
    object_kind="HorizontalPodAutoscaler",
    description=(
        "Scales a Deployment or StatefulSet between a minimum and a maximum on "
        "CPU or memory use."
    ),
    fields=HPA_FIELDS,
    tier=TIER_AUTOSCALER,
    health_rule="hpa",
    summary_fields=("minReplicas", "maxReplicas", "cpu"),
    summary=_summary,
    render=render_hpa,
    ports=lambda data: [Port("out", "out", "Link to the workload it scales")],
    port_docs=({"handle": "out", "direction": "out"},),
    check=check_hpa,
    linked=hpa_links,
    linked_fields={"_linkedTarget": "The workload it scales: id, kind and name."},
)
