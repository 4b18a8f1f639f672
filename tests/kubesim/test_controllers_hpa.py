"""HorizontalPodAutoscalers over simulated utilisation, and Events."""

from __future__ import annotations

import pytest

from kubesim import resources as r

from .test_controllers import condition, deployment, running

CPU = {"requests": {"cpu": "100m", "memory": "64Mi"}}


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def hpa(
    name: str, target: str, low: int = 1, high: int = 10, utilization: int = 80
) -> dict:
    """Return an autoscaling/v2 HPA on a Deployment's CPU utilisation."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": target,
            },
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": utilization,
                        },
                    },
                }
            ],
        },
    }


def test_hpa_without_its_target_cannot_get_the_scale(kube):
    kube.create(r.HPA, hpa("web", "missing"))

    found = kube.get(r.HPA, "web")

    able = condition(found, "AbleToScale")
    assert (able["status"], able["reason"]) == ("False", "FailedGetScale")
    assert able["message"].endswith('deployments/scale.apps "missing" not found')
    assert "FailedGetScale" in kube.reasons(found)


def test_hpa_on_pods_without_cpu_requests_reports_the_missing_request(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=2))
    kube.create(r.HPA, hpa("web", "web"))

    found = kube.get(r.HPA, "web")

    active = condition(found, "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    pod_names = {p["metadata"]["name"] for p in kube.pods("web")}
    assert (
        "failed to get cpu utilization: missing request for cpu in container app of "
        "Pod " in (active["message"])
    )
    assert active["message"].rsplit(" ", 1)[-1] in pod_names
    assert condition(found, "AbleToScale")["status"] == "True"
    assert found["status"]["currentReplicas"] == 2
    assert {"FailedGetResourceMetric", "FailedComputeMetricsReplicas"} <= kube.reasons(
        found
    )


def test_adding_cpu_requests_makes_the_hpa_active(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=2))
    kube.create(r.HPA, hpa("web", "web", low=2))

    def add_requests(d):
        d["spec"]["template"]["spec"]["containers"][0]["resources"] = CPU

    kube.change(r.DEPLOYMENT, "web", add_requests)

    found = kube.get(r.HPA, "web")
    active = condition(found, "ScalingActive")
    assert (active["status"], active["reason"]) == ("True", "ValidMetricFound")
    assert found["status"]["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageUtilization": 30, "averageValue": "30m"},
            },
        }
    ]
    assert condition(found, "ScalingLimited")["reason"] == "TooFewReplicas"
    assert found["status"]["desiredReplicas"] == 2


def test_a_busy_workload_is_scaled_up_to_the_maximum(kube):
    kube.create(
        r.DEPLOYMENT,
        deployment("hot", image="kubesim/cpuhog", replicas=2, resources=CPU),
    )

    kube.create(r.HPA, hpa("hot", "hot", low=1, high=5, utilization=50))

    found = kube.get(r.HPA, "hot")
    assert kube.get(r.DEPLOYMENT, "hot")["spec"]["replicas"] == 5
    assert len(kube.pods("hot")) == 5
    assert found["status"]["desiredReplicas"] == 5
    assert condition(found, "ScalingLimited")["reason"] == "TooManyReplicas"
    assert "SuccessfulRescale" in kube.reasons(found)


def test_an_idle_workload_is_scaled_down_after_the_stabilisation_window(kube):
    kube.create(r.DEPLOYMENT, deployment("idle", replicas=4, resources=CPU))
    kube.create(r.HPA, hpa("idle", "idle", low=1, high=10))
    assert kube.get(r.DEPLOYMENT, "idle")["spec"]["replicas"] == 4
    assert (
        condition(kube.get(r.HPA, "idle"), "AbleToScale")["reason"]
        == "ScaleDownStabilized"
    )

    kube.advance(301)

    # 4 pods at 30% of their request against a target of 80%: 2 are enough.
    assert kube.get(r.DEPLOYMENT, "idle")["spec"]["replicas"] == 2


# ----- events


def test_repeated_events_are_aggregated_by_count(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop", replicas=1))
    [pod] = kube.pods("web")

    kube.advance(10)
    kube.advance(20)

    back_offs = [e for e in kube.events_for(pod) if e["reason"] == "BackOff"]
    assert len(back_offs) == 1
    assert back_offs[0]["count"] == 3
    assert back_offs[0]["type"] == "Warning"
    assert back_offs[0]["lastTimestamp"] > back_offs[0]["firstTimestamp"]
    assert back_offs[0]["involvedObject"]["fieldPath"] == "spec.containers{app}"
    assert back_offs[0]["source"] == {
        "component": "kubelet",
        "host": pod["spec"]["nodeName"],
    }


def test_events_expire_after_an_hour(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=1))
    assert kube.list(r.EVENT)

    kube.advance(3700)

    assert kube.list(r.EVENT) == []
