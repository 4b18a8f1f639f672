"""Each failure mode gets its diagnosis, and its fix, applied and run, turns it green.

End to end: a published workflow is run by a real Celery worker against
kubesim; the diagnosis and the fix go through the REST API; the fix moves
the workflow back to draft, saves the new canvas, publishes it and runs it.
"""

from dataclasses import dataclass, field

import pytest

from runs import actions
from runs.models import Run
from tests.runs.livetools import canvas, edge, published, wait_for_run, web_node
from workflows.models import Workflow

pytestmark = [pytest.mark.slow]


def service_node(**data) -> dict:
    return {
        "id": "web-svc",
        "type": "service",
        "position": {"x": 700, "y": 100},
        "data": {
            "name": "web",
            "type": "ClusterIP",
            "ports": [{"name": "http", "port": 80}],
            **data,
        },
    }


def without_cpu_request(node: dict) -> dict:
    node["data"]["resources"]["requests"].pop("cpu")
    return node


@dataclass
class Case:
    """One row of HEALTH.md's diagnosis table, as a canvas that shows it."""

    nodes_and_edges: dict
    node_id: str
    case: str
    fix_id: str | None
    inputs: dict = field(default_factory=dict)
    first_run: str = "failed"
    health_deadline: float | None = None


CASES = {
    "image-not-found": Case(
        canvas(web_node(image="nginx:doesnotexist", replicas=1)),
        "web",
        "image-pull",
        "set-image",
    ),
    "out-of-memory": Case(
        canvas(
            web_node(
                image="kubesim/memhog:256Mi",
                replicas=1,
                resources={
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"memory": "128Mi"},
                },
            )
        ),
        "web",
        "oom-killed",
        "raise-memory-limit",
    ),
    "unschedulable": Case(
        canvas(web_node(resources={"requests": {"cpu": "8", "memory": "64Mi"}})),
        "web",
        "unschedulable",
        "lower-requests",
    ),
    "missing-configmap": Case(
        canvas(
            web_node(
                replicas=1,
                env=[
                    {
                        "name": "MODE",
                        "valueFrom": {
                            "kind": "configMap",
                            "name": "settings",
                            "key": "mode",
                        },
                    }
                ],
            )
        ),
        "web",
        "missing-config",
        "add-key",
        {"value": "fast"},
    ),
    "missing-secret-key-on-canvas": Case(
        canvas(
            web_node(
                replicas=1,
                env=[
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {
                            "kind": "secret",
                            "name": "db",
                            "key": "password",
                        },
                    }
                ],
            ),
            {
                "id": "db",
                "type": "secret",
                "position": {"x": 0, "y": 0},
                "data": {"name": "db", "type": "Opaque", "data": {"user": "shop"}},
            },
        ),
        "web",
        "missing-config",
        "add-key",
        {"value": "pw-secret-123"},
    ),
    "service-selects-nothing": Case(
        canvas(web_node(), service_node(selector={"app": "nothing"})),
        "web-svc",
        "service-selects-nothing",
        "connect-web",
    ),
    "service-port-mismatch-linked": Case(
        canvas(
            web_node(),
            service_node(ports=[{"name": "http", "port": 80, "targetPort": 8080}]),
            edges=[edge("web-svc", "web")],
        ),
        "web-svc",
        "service-port-mismatch",
        "follow-workload-port",
    ),
    "service-port-mismatch-by-selector": Case(
        canvas(
            web_node(),
            service_node(
                selector={"app": "shop"},
                ports=[{"name": "http", "port": 80, "targetPort": 8080}],
            ),
        ),
        "web-svc",
        "service-port-mismatch",
        "set-target-port",
        first_run="completed",
    ),
    "hpa-without-cpu-requests": Case(
        canvas(
            without_cpu_request(web_node()),
            {
                "id": "web-hpa",
                "type": "hpa",
                "position": {"x": 400, "y": -100},
                "data": {
                    "name": "web",
                    "minReplicas": 2,
                    "maxReplicas": 4,
                    "targetCPUUtilization": 70,
                },
            },
            edges=[edge("web-hpa", "web")],
        ),
        "web-hpa",
        "hpa-without-requests",
        "add-cpu-request",
    ),
    "pvc-unknown-class": Case(
        canvas(
            {
                "id": "data",
                "type": "persistentvolumeclaim",
                "position": {"x": 0, "y": 0},
                "data": {
                    "name": "data",
                    "size": "1Gi",
                    "storageClassName": "fast",
                    "accessModes": ["ReadWriteOnce"],
                },
            }
        ),
        "data",
        "pvc-cannot-bind",
        "use-storage-class",
    ),
    "ingress-without-address": Case(
        canvas(
            web_node(),
            service_node(),
            {
                "id": "web-ingress",
                "type": "ingress",
                "position": {"x": 1000, "y": 100},
                "data": {
                    "name": "web",
                    "ingressClassName": "no-controller",
                    "paths": [{"path": "/", "pathType": "Prefix"}],
                },
            },
            edges=[edge("web-svc", "web"), edge("web-ingress", "web-svc", "path-0")],
        ),
        "web-ingress",
        "ingress-without-address",
        "use-ingress-class",
        health_deadline=1.5,
    ),
    "crash-loop": Case(
        canvas(web_node(image="kubesim/crashloop:1", replicas=1)),
        "web",
        "crash-loop",
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_failing_node_is_diagnosed_and_its_fix_turns_it_green(
    name, owner, owner_api, kubeconfig_text, celery_worker, kubesim, settings
):
    case = CASES[name]
    if case.health_deadline:
        settings.KUBEORCH_HEALTH_DEADLINE = case.health_deadline
    workflow = published(owner, kubeconfig_text, case.nodes_and_edges)
    node_url = f"/v1/api/workflows/{workflow.pk}/nodes/{case.node_id}"

    first = _run(workflow, owner)
    assert first.status == case.first_run, first.summary
    kubesim.advance(15)
    answer = owner_api.get(f"{node_url}/diagnosis")

    assert answer.status_code == 200
    diagnosis = answer.json()["diagnosis"]
    assert diagnosis is not None, answer.json()
    assert diagnosis["case"] == case.case, diagnosis
    assert diagnosis["cause"]
    offered = [fix["id"] for fix in diagnosis["fixes"]]
    if case.fix_id is None:
        assert offered == []
        assert "panic: dial tcp" in "\n".join(diagnosis["evidence"]["previous_logs"])
        assert diagnosis["evidence"]["exit_code"] == 1
        return
    assert offered[0] == case.fix_id, diagnosis
    assert diagnosis["fixes"][0]["diff"]["summary"], "the diff is shown before applying"

    settings.KUBEORCH_HEALTH_DEADLINE = 30
    applied = owner_api.post(
        f"{node_url}/fix",
        {"fix_id": case.fix_id, "run": True, "inputs": case.inputs},
        format="json",
    )

    assert applied.status_code == 200, applied.content
    body = applied.json()
    assert body["state"] == "published" and body["run_id"]
    assert body["revision"] == workflow.revision + 1
    second = wait_for_run(body["run_id"])
    assert second.status == "completed", second.summary
    after = owner_api.get(f"{node_url}/diagnosis").json()
    assert after["state"] == "healthy", after
    assert after["diagnosis"] is None, after
    assert after["warnings"] == []


def _run(workflow: Workflow, owner) -> Run:
    run = actions.start_run(workflow.pk, triggered_by=Run.Trigger.MANUAL, user=owner)
    return wait_for_run(run.pk)


def test_a_fix_on_a_secret_never_shows_the_value(
    owner, owner_api, kubeconfig_text, celery_worker
):
    case = CASES["missing-secret-key-on-canvas"]
    workflow = published(owner, kubeconfig_text, case.nodes_and_edges)
    _run(workflow, owner)
    url = f"/v1/api/workflows/{workflow.pk}/nodes/web/fix"

    preview = owner_api.post(
        url,
        {"fix_id": "add-key", "preview": True, "inputs": case.inputs},
        format="json",
    )
    applied = owner_api.post(
        url, {"fix_id": "add-key", "inputs": case.inputs}, format="json"
    )

    for answer in (preview, applied):
        assert answer.status_code == 200
        assert "pw-secret-123" not in answer.content.decode()
        assert "********" in answer.content.decode()
    workflow.refresh_from_db()
    assert workflow.state == "draft", "without run the fixed workflow stays a draft"
    secret = next(n for n in workflow.nodes if n["id"] == "db")
    assert secret["data"]["data"]["password"].startswith("enc:")


def test_an_outsider_cannot_diagnose_or_fix(owner, outsider_api, kubeconfig_text):
    workflow = published(
        owner, kubeconfig_text, CASES["image-not-found"].nodes_and_edges
    )
    url = f"/v1/api/workflows/{workflow.pk}/nodes/web"

    assert outsider_api.get(f"{url}/diagnosis").status_code == 404
    assert (
        outsider_api.post(
            f"{url}/fix", {"fix_id": "set-image"}, format="json"
        ).status_code
        == 404
    )


def test_a_fix_that_is_not_offered_is_refused(
    owner, owner_api, kubeconfig_text, celery_worker
):
    workflow = published(owner, kubeconfig_text, canvas(web_node(replicas=1)))
    assert _run(workflow, owner).status == "completed"

    answer = owner_api.post(
        f"/v1/api/workflows/{workflow.pk}/nodes/web/fix",
        {"fix_id": "set-image"},
        format="json",
    )

    assert answer.status_code == 409
    workflow.refresh_from_db()
    assert workflow.state == "published" and workflow.revision == 1
