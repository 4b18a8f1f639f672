"""diagnose(): the case, the cause in words, and the fixes, from node facts.

These build the facts by hand, shaped like what kubesim and the health
rules produce; tests/runs/test_fixes.py drives the same cases end to end.
"""

from decimal import Decimal

from runs.diagnosis import (
    ClusterFacts,
    NodeFacts,
    diagnose,
    format_bytes,
    format_cpu,
)
from runs.health import Health, HealthState, degraded, healthy
from tests.runs.livetools import web_node
from workflows.lint import lint_canvas

NODES = [
    {
        "metadata": {"name": f"n{i}"},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}},
    }
    for i in range(3)
]


def facts(node, health: Health | None, nodes=None, edges=(), **extra) -> NodeFacts:
    nodes = nodes or [node]
    return NodeFacts(
        node=node,
        nodes=nodes,
        edges=list(edges),
        namespace="default",
        health=health,
        findings=lint_canvas(nodes, list(edges), namespace="default"),
        **extra,
    )


def pulling(message: str, reason: str = "ImagePullBackOff") -> Health:
    return degraded(
        message,
        evidence={
            "pod": "web-1",
            "container": "web",
            "reason": reason,
            "waiting_message": message,
            "restart_count": 0,
        },
    )


def test_a_healthy_node_has_nothing_to_say():
    assert diagnose(facts(web_node(), healthy("2/2 ready"))) is None


def test_a_missing_tag_proposes_the_last_image_that_ran():
    node = web_node(image="nginx:1.99")
    found = diagnose(
        facts(
            node,
            pulling('failed to pull "nginx:1.99": not found'),
            last_good_image="nginx:1.27",
        )
    )

    assert found.case == "image-pull"
    assert found.cause == "image 'nginx:1.99' was not found in its registry"
    nodes, _ = found.fix.apply([node], [])
    assert nodes[0]["data"]["image"] == "nginx:1.27"
    assert node["data"]["image"] == "nginx:1.99", "the given canvas is untouched"


def test_a_private_image_offers_the_pull_secret_on_the_canvas():
    node = web_node(image="private.registry.example/shop/web:1")
    secret = {
        "id": "regcred",
        "type": "secret",
        "position": {"x": 0, "y": 0},
        "data": {
            "name": "regcred",
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "{}"},
        },
    }
    health = pulling(
        "pull access denied, repository does not exist or may require authorization"
    )

    found = diagnose(facts(node, health, nodes=[node, secret]))

    assert "needs credentials" in found.cause
    assert [f.id for f in found.fixes] == ["add-pull-secret", "set-image"]
    nodes, _ = found.fix.apply([node, secret], [])
    assert nodes[0]["data"]["imagePullSecrets"] == ["regcred"]


def test_out_of_memory_doubles_the_limit():
    node = web_node(resources={"limits": {"memory": "384Mi"}})
    health = degraded(
        "killed",
        evidence={
            "container": "web",
            "terminated_reason": "OOMKilled",
            "exit_code": 137,
            "restart_count": 2,
        },
    )

    found = diagnose(facts(node, health))

    assert found.case == "oom-killed"
    assert "384Mi" in found.cause and "137" in found.cause
    assert found.fix.inputs[0].default == "768Mi"
    nodes, _ = found.fix.apply([node], [], {"memory": "1Gi"})
    assert nodes[0]["data"]["resources"]["limits"]["memory"] == "1Gi"


def test_a_crash_loop_points_at_what_to_check_and_offers_no_fix():
    node = web_node(command=["/app/server"], args=["--db", "db:5432"])
    health = degraded(
        "crashing",
        evidence={
            "container": "web",
            "reason": "CrashLoopBackOff",
            "exit_code": 1,
            "restart_count": 4,
        },
    )

    found = diagnose(facts(node, health, previous_logs=["panic: boom"]))

    assert found.case == "crash-loop" and found.fixes == []
    assert "exited with code 1" in found.cause and "4 times" in found.cause
    assert any("/app/server --db db:5432" in line for line in found.advice)
    assert any("APP_ENV" in line for line in found.advice)
    assert found.evidence["previous_logs"] == ["panic: boom"]


def test_unschedulable_lowers_requests_to_half_the_largest_node():
    node = web_node(
        resources={
            "requests": {"cpu": "8", "memory": "12Gi"},
            "limits": {"memory": "16Gi"},
        }
    )
    message = "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory."
    health = degraded(
        message,
        evidence={
            "condition": "PodScheduled",
            "reason": "Unschedulable",
            "message": message,
        },
    )

    found = diagnose(facts(node, health, cluster=ClusterFacts(nodes=NODES)))

    assert found.case == "unschedulable"
    nodes, _ = found.fix.apply([node], [])
    assert nodes[0]["data"]["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}


def test_unschedulable_for_a_node_selector_has_no_automatic_fix():
    message = (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    )
    health = degraded(message, evidence={"reason": "Unschedulable", "message": message})

    found = diagnose(facts(web_node(), health, cluster=ClusterFacts(nodes=NODES)))

    assert found.fixes == [] and "node selector" in found.advice[0]


def test_a_missing_key_found_by_lint_is_added_on_the_linked_node():
    node = web_node(
        env=[
            {
                "name": "MODE",
                "valueFrom": {"kind": "configMap", "name": "settings", "key": "mode"},
            }
        ]
    )
    settings = {
        "id": "settings",
        "type": "configmap",
        "position": {"x": 0, "y": 0},
        "data": {"name": "settings", "data": {"other": "1"}},
    }

    found = diagnose(facts(node, None, nodes=[node, settings]))

    assert found.case == "missing-config"
    assert found.cause == (
        "the container reads key 'mode' of ConfigMap 'settings', which has no such key"
    )
    nodes, _ = found.fix.apply([node, settings], [], {"value": "fast"})
    assert nodes[1]["data"]["data"] == {"other": "1", "mode": "fast"}


def test_a_missing_object_named_by_the_kubelet_is_created():
    node = web_node(
        env=[
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"kind": "secret", "name": "db", "key": "password"},
            }
        ]
    )
    health = degraded(
        'secret "db" not found',
        evidence={
            "reason": "CreateContainerConfigError",
            "waiting_message": 'secret "db" not found',
        },
    )

    found = diagnose(facts(node, health))

    assert found.fix.inputs[0].sensitive
    assert found.fix.inputs[0].as_dict()["default"] == ""
    nodes, _ = found.fix.apply([node], [], {"value": "pw"})
    created = nodes[1]
    assert (created["id"], created["type"]) == ("db", "secret")
    assert created["data"] == {
        "name": "db",
        "type": "Opaque",
        "data": {"password": "pw"},
    }


def test_an_hpa_without_requests_adds_them_to_its_target():
    workload = web_node()
    del workload["data"]["resources"]["requests"]["cpu"]
    hpa = {
        "id": "web-hpa",
        "type": "hpa",
        "position": {"x": 0, "y": 0},
        "data": {
            "name": "web",
            "minReplicas": 1,
            "maxReplicas": 3,
            "targetCPUUtilization": 70,
        },
    }
    edges = [
        {
            "id": "e",
            "source": "web-hpa",
            "target": "web",
            "sourceHandle": "out",
            "targetHandle": "in",
        }
    ]

    found = diagnose(facts(hpa, None, nodes=[workload, hpa], edges=edges))

    assert found.case == "hpa-without-requests"
    nodes, _ = found.fix.apply([workload, hpa], edges)
    assert nodes[0]["data"]["resources"]["requests"]["cpu"] == "100m"


def test_a_pvc_of_an_unknown_class_is_recreated_under_a_new_name():
    claim = {
        "id": "data",
        "type": "persistentvolumeclaim",
        "position": {"x": 0, "y": 0},
        "data": {"name": "data", "size": "1Gi", "storageClassName": "fast"},
    }
    classes = [
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            }
        },
        {"metadata": {"name": "local-wait"}},
    ]
    health = degraded('storageclass.storage.k8s.io "fast" not found')

    found = diagnose(
        facts(claim, health, cluster=ClusterFacts(storage_classes=classes))
    )

    assert found.case == "pvc-cannot-bind"
    nodes, _ = found.fix.apply([claim], [])
    assert nodes[0]["data"]["storageClassName"] == "standard"
    assert nodes[0]["data"]["name"] == "data-standard"
    assert "cannot change" in found.fix.explanation


def test_an_ingress_without_address_after_the_grace_period_explains_the_controller():
    ingress = {
        "id": "in",
        "type": "ingress",
        "position": {"x": 0, "y": 0},
        "data": {"name": "web", "paths": [{"path": "/"}]},
    }
    warning = "the controller published no address"
    health = Health(HealthState.HEALTHY, warning, warnings=[warning])

    found = diagnose(facts(ingress, health, cluster=ClusterFacts(ingress_classes=[])))

    assert found.case == "ingress-without-address"
    assert found.fixes == []
    assert "controller" in found.advice[0]


def test_quantities_are_written_the_way_people_write_them():
    assert format_bytes(Decimal(256 * 2**20)) == "256Mi"
    assert format_bytes(Decimal(4 * 2**30)) == "4Gi"
    assert format_cpu(Decimal("0.25")) == "250m"
    assert format_cpu(Decimal("2")) == "2"
