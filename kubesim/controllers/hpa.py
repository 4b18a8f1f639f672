"""HorizontalPodAutoscaler (autoscaling/v2) over simulated utilisation."""

from __future__ import annotations

import math

from .. import images
from ..resources import DEPLOYMENT, HPA, POD, REPLICASET, STATEFULSET
from ..selectors import selector_from_object
from ..store import clone
from .base import Controller
from .meta import find_condition, is_deleting, make_condition, seconds_of
from .pods import is_active, is_ready
from .quantities import format_cpu, quantity_or_zero

COMPONENT = "horizontal-pod-autoscaler"
TOLERANCE = 0.1
DEFAULT_TARGET = 80
DEFAULT_DOWN_WINDOW = 300
MEMORY_UTILIZATION = 40
TARGETS = {
    "Deployment": DEPLOYMENT,
    "StatefulSet": STATEFULSET,
    "ReplicaSet": REPLICASET,
}
PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "ReplicaSet": "replicasets",
}


class MetricError(Exception):
    """A metric could not be read; the message is what the HPA reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class HorizontalPodAutoscalerController(Controller):
    """Compute desired replicas from utilisation and scale the target within bounds."""

    primary = HPA
    name = "horizontalpodautoscaler"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        for rt in (*TARGETS.values(), POD):
            self.watches[rt.key] = self.on_workload

    def on_workload(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the autoscalers of the namespace when a workload or pod changes."""
        namespace = obj["metadata"].get("namespace")
        for hpa in self.cache.list(HPA, namespace):
            self.enqueue_obj(hpa)

    def reconcile(self, namespace: str, name: str) -> None:
        """Read the target's scale and metrics; rescale it; write the status."""
        hpa = self.cache.get(HPA, namespace, name)
        if hpa is None or is_deleting(hpa):
            return
        if self.ctx.delays.hpa_sync:
            self.enqueue_at(
                (namespace, name), self.ctx.now() + self.ctx.delays.hpa_sync
            )
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        rt = TARGETS.get(ref.get("kind", ""))
        target = self.cache.get(rt, namespace, ref.get("name", "")) if rt else None
        if target is None:
            self._no_target(hpa, ref)
            return
        current = _replicas(target)
        try:
            desired, metrics, basis = self._recommend(hpa, target, current)
        except MetricError as error:
            self._no_metrics(hpa, current, error)
            return
        self._scale(hpa, rt, target, current, desired, metrics, basis)

    # ----- metrics

    def _recommend(self, hpa: dict, target: dict, current: int):
        pods = self._pods(target)
        metrics = (hpa.get("spec") or {}).get("metrics") or [_default_metric()]
        recommendations, current_metrics, basis = [], [], ""
        for metric in metrics:
            if metric.get("type") != "Resource":
                kind = metric.get("type", "unknown")
                raise MetricError(
                    f"FailedGet{kind}Metric",
                    f"the HPA was unable to compute the replica count: unable to get "
                    f"{kind.lower()} metric: no custom metrics API "
                    "(custom.metrics.k8s.io) "
                    f"registered",
                )
            count, reading, why = self._resource(metric["resource"], pods, current)
            recommendations.append(count)
            current_metrics.append(reading)
            if count == max(recommendations):
                basis = why
        return max(recommendations), current_metrics, basis

    def _pods(self, target: dict) -> list[dict]:
        selector = selector_from_object(
            (target.get("spec") or {}).get("selector") or {}
        )
        namespace = target["metadata"]["namespace"]
        return [
            p
            for p in self.cache.list(POD, namespace)
            if is_active(p) and selector.matches(p["metadata"].get("labels"))
        ]

    def _resource(self, resource: dict, pods: list[dict], current: int):
        name = resource.get("name", "cpu")
        target = resource.get("target") or {}
        for pod in pods:
            for container in (pod.get("spec") or {}).get("containers") or []:
                requests = (container.get("resources") or {}).get("requests") or {}
                if name not in requests:
                    raise MetricError(
                        "FailedGetResourceMetric",
                        "the HPA was unable to compute the replica count: failed to "
                        "get "
                        f"{name} resource metric value: failed to get {name} "
                        "utilization: "
                        f"missing request for {name} in container "
                        f"{container.get('name')} "
                        f"of Pod {pod['metadata']['name']}",
                    )
        measured = [p for p in pods if self._has_metrics(p)]
        if not measured:
            raise MetricError(
                "FailedGetResourceMetric",
                "the HPA was unable to compute the replica count: failed to get "
                f"{name} "
                f"resource metric value: failed to get {name} utilization: did not "
                "receive "
                f"metrics for targeted pods (pods might be unready)",
            )
        utilization = sum(_utilization(p, name) for p in measured) / len(measured)
        request = sum(_request(p, name) for p in measured) / len(measured)
        average = request * utilization / 100
        reading = {
            "type": "Resource",
            "resource": {
                "name": name,
                "current": {
                    "averageUtilization": round(utilization),
                    "averageValue": format_cpu(average)
                    if name == "cpu"
                    else str(int(average)),
                },
            },
        }
        if target.get("type") == "AverageValue":
            wanted = quantity_or_zero(target.get("averageValue"))
            ratio = average / wanted if wanted else 1.0
            why = f"{name} resource"
        else:
            ratio = utilization / float(
                target.get("averageUtilization") or DEFAULT_TARGET
            )
            why = f"{name} resource utilization (percentage of request)"
        if abs(ratio - 1.0) <= TOLERANCE:
            return current, reading, why
        return max(1, math.ceil(ratio * len(measured))), reading, why

    def _has_metrics(self, pod: dict) -> bool:
        if not is_ready(pod):
            return False
        since = seconds_of(
            (find_condition(pod.get("status"), "Ready") or {}).get("lastTransitionTime")
        )
        return since is not None and since + self.ctx.delays.metrics <= self.ctx.now()

    # ----- outcomes

    def _scale(self, hpa, rt, target, current, desired, metrics, basis) -> None:
        # TODO(hpa-policies): scale-up jumps straight to the recommendation; the
        # real controller limits it (4 pods or 100% per 15 s, or spec.behavior).
        spec = hpa.get("spec") or {}
        low, high = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        bounded = min(max(desired, low), high)
        old = hpa.get("status") or {}
        now = self.ctx.stamp()
        able = ("True", "ReadyForNewScale", "recommended size matches current size")
        status = {
            "currentReplicas": current,
            "desiredReplicas": current,
            "currentMetrics": metrics,
        }
        if old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        if bounded < current and self._stabilising(hpa):
            able = (
                "True",
                "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the "
                "highest recent recommendation",
            )
        elif bounded != current:
            self._rescale(rt, target, bounded)
            status["desiredReplicas"] = bounded
            status["lastScaleTime"] = now
            able = (
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {bounded}",
            )
            reason = (
                f"{basis} above target"
                if bounded > current
                else "All metrics below target"
            )
            self.ctx.events.record(
                hpa,
                HPA,
                "Normal",
                "SuccessfulRescale",
                f"New size: {bounded}; reason: {reason}",
                COMPONENT,
            )
        limited = (
            "False",
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
        if desired > high:
            limited = (
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        elif desired < low:
            limited = (
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        status["conditions"] = [
            make_condition(
                find_condition(old, "AbleToScale"), "AbleToScale", *able, now
            ),
            make_condition(
                find_condition(old, "ScalingActive"),
                "ScalingActive",
                "True",
                "ValidMetricFound",
                f"the HPA was able to successfully calculate a replica count from "
                f"{basis}",
                now,
            ),
            make_condition(
                find_condition(old, "ScalingLimited"), "ScalingLimited", *limited, now
            ),
        ]
        self._write(hpa, status)

    def _stabilising(self, hpa: dict) -> bool:
        """Hold a scale-down until the stabilisation window has passed."""
        behavior = ((hpa.get("spec") or {}).get("behavior") or {}).get(
            "scaleDown"
        ) or {}
        window = behavior.get("stabilizationWindowSeconds", DEFAULT_DOWN_WINDOW)
        status = hpa.get("status") or {}
        since = seconds_of(
            status.get("lastScaleTime") or hpa["metadata"]["creationTimestamp"]
        )
        ends = (since or 0.0) + int(window)
        if ends <= self.ctx.now():
            return False
        self.enqueue_at((hpa["metadata"]["namespace"], hpa["metadata"]["name"]), ends)
        return True

    def _rescale(self, rt, target: dict, replicas: int) -> None:
        updated = clone(target)
        updated["spec"]["replicas"] = replicas
        self.ctx.update(rt, updated)

    def _no_target(self, hpa: dict, ref: dict) -> None:
        kind = ref.get("kind", "")
        plural = PLURALS.get(kind, f"{kind.lower()}s")
        message = (
            f"the HPA controller was unable to get the target's current scale: "
            f'{plural}/scale.apps "{ref.get("name")}" not found'
        )
        old = hpa.get("status") or {}
        status = {
            "currentReplicas": int(old.get("currentReplicas") or 0),
            "desiredReplicas": int(old.get("desiredReplicas") or 0),
        }
        status["conditions"] = [
            make_condition(
                find_condition(old, "AbleToScale"),
                "AbleToScale",
                "False",
                "FailedGetScale",
                message,
                self.ctx.stamp(),
            ),
        ]
        self._write(hpa, status)
        self.ctx.events.record_once(
            hpa,
            HPA,
            "Warning",
            "FailedGetScale",
            f'{plural}/scale.apps "{ref.get("name")}" not found',
            COMPONENT,
        )

    def _no_metrics(self, hpa: dict, current: int, error: MetricError) -> None:
        old = hpa.get("status") or {}
        now = self.ctx.stamp()
        status = {"currentReplicas": current, "desiredReplicas": current}
        if old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        status["conditions"] = [
            make_condition(
                find_condition(old, "AbleToScale"),
                "AbleToScale",
                "True",
                "SucceededGetScale",
                "the HPA controller was able to get the target's current scale",
                now,
            ),
            make_condition(
                find_condition(old, "ScalingActive"),
                "ScalingActive",
                "False",
                error.reason,
                error.message,
                now,
            ),
        ]
        self._write(hpa, status)
        cause = error.message.split(": ", 1)[-1]
        innermost = "failed to get " + error.message.rsplit("failed to get ", 1)[-1]
        self.ctx.events.record_once(
            hpa, HPA, "Warning", error.reason, innermost, COMPONENT
        )
        self.ctx.events.record_once(
            hpa,
            HPA,
            "Warning",
            "FailedComputeMetricsReplicas",
            f"invalid metrics (1 invalid out of 1), first error is: {cause}",
            COMPONENT,
        )

    def _write(self, hpa: dict, status: dict) -> None:
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        self.ctx.set_status(HPA, hpa, status)


def _default_metric() -> dict:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": DEFAULT_TARGET},
        },
    }


def _replicas(target: dict) -> int:
    value = (target.get("spec") or {}).get("replicas", 1)
    return 1 if value is None else int(value)


def _utilization(pod: dict, resource: str) -> float:
    containers = (pod.get("spec") or {}).get("containers") or []
    if resource != "cpu":
        return MEMORY_UTILIZATION
    if not containers:
        return images.DEFAULT_CPU_UTILIZATION
    return sum(images.cpu_utilization(c.get("image") or "") for c in containers) / len(
        containers
    )


def _request(pod: dict, resource: str) -> float:
    return sum(
        quantity_or_zero(
            ((c.get("resources") or {}).get("requests") or {}).get(resource)
        )
        for c in (pod.get("spec") or {}).get("containers") or []
    )
