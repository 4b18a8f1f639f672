"""End to end: a three-tier application deployed through the REST API.

Real HTTP to the app (live server), a real Celery worker, the official client
against kubesim, and `kubectl` as an independent second client to check what
landed in the cluster.
"""

import base64
import json
import subprocess
import time

import pytest
import requests

from kubeorch.management.commands.apitoken import issue_token
from tests.factories import three_tier_canvas

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Api:
    """A bearer-token client for the live server."""

    def __init__(self, base_url: str, token: str):
        self.base = base_url + "/v1/api"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None, expect: int = 200) -> dict:
        response = self.http.request(method, self.base + path, json=body, timeout=30)
        assert response.status_code == expect, (method, path, response.text)
        return response.json() if response.content else {}

    def wait_for_run(self, run_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/runs/{run_id}")
            if run["status"] != "running":
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} still running after {timeout} s: {run}")

    def deploy(self, workflow_id: str, canvas: dict, revision: int) -> dict:
        """Save a canvas into a draft, publish it and run it to the end."""
        self.call(
            "POST", f"/workflows/{workflow_id}/save", {**canvas, "revision": revision}
        )
        self.call("POST", f"/workflows/{workflow_id}/publish")
        started = self.call(
            "POST", f"/workflows/{workflow_id}/run", {"trigger_data": {}}, expect=202
        )
        return {**started, **self.wait_for_run(started["run_id"])}


def kubectl(kubeconfig, *args: str) -> dict:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def kubectl_apply(kubeconfig, manifest: dict) -> None:
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def objects_by_kind(kubeconfig, namespace="default") -> dict:
    listed = kubectl(
        kubeconfig,
        "get",
        "deploy,sts,svc,ing,hpa,cm,secret,pvc,endpoints",
        "-n",
        namespace,
    )
    found: dict = {}
    for item in listed["items"]:
        found.setdefault(item["kind"], {})[item["metadata"]["name"]] = item
    return found


@pytest.fixture
def api(live_server, owner) -> Api:
    return Api(live_server.url, issue_token(owner.username))


@pytest.fixture
def workflow(api, kubeconfig_text) -> dict:
    cluster = api.call(
        "POST", "/clusters", {"name": "sim", "kubeconfig": kubeconfig_text}, expect=201
    )
    return api.call(
        "POST", "/workflows", {"name": "shop", "cluster_id": cluster["id"]}, expect=201
    )


def test_a_three_tier_application_runs_to_completed_with_correct_wiring(
    api, workflow, celery_worker, kubeconfig_path
):
    canvas = three_tier_canvas()

    run = api.deploy(workflow["id"], canvas, revision=0)

    assert run["status"] == "completed", run
    assert run["version"] == 1
    assert run["triggered_by"] == "manual"
    assert run["duration"] > 0
    assert {s["node_id"]: s["state"] for s in run["node_states"]} == {
        node["id"]: "healthy" for node in canvas["nodes"]
    }
    assert run["logs"], "the run records its log lines"

    live = objects_by_kind(kubeconfig_path)
    web = live["Deployment"]["web"]
    pods = kubectl(kubeconfig_path, "get", "pods", "-n", "default")["items"]
    web_pods = [p for p in pods if p["metadata"]["name"].startswith("web-")]
    assert len(web_pods) == 3

    service = live["Service"]["web"]
    selector = service["spec"]["selector"]
    assert all(selector.items() <= p["metadata"]["labels"].items() for p in web_pods), (
        "the Service selects the web pods"
    )
    assert service["spec"]["ports"][0]["targetPort"] in (80, "http")
    addresses = live["Endpoints"]["web"]["subsets"][0]["addresses"]
    assert len(addresses) == 3

    rule = live["Ingress"]["web"]["spec"]["rules"][0]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert rule["http"]["paths"][0]["path"] == "/"
    assert backend["name"] == "web"
    assert backend["port"] in ({"number": 80}, {"name": "http"})

    pod_spec = web["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    config_volume = next(v for v in pod_spec["volumes"] if "configMap" in v)
    assert config_volume["configMap"]["name"] == "web-config"
    mount = next(
        m for m in container["volumeMounts"] if m["name"] == config_volume["name"]
    )
    assert mount["mountPath"] == "/etc/config"
    assert {"secretRef": {"name": "web-secret"}} in [
        {k: v for k, v in source.items() if k == "secretRef"}
        for source in container.get("envFrom", [])
    ]

    hpa = live["HorizontalPodAutoscaler"]["web"]["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["scaleTargetRef"]["name"] == "web"

    postgres = live["StatefulSet"]["postgres"]["spec"]
    headless = live["Service"][postgres["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert postgres["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert (
        live["PersistentVolumeClaim"]["data-postgres-0"]["status"]["phase"] == "Bound"
    )
    password = next(
        e
        for e in postgres["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "POSTGRES_PASSWORD"
    )
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": "web-secret",
        "key": "DATABASE_PASSWORD",
    }

    secret = live["Secret"]["web-secret"]["data"]
    assert base64.b64decode(secret["DATABASE_PASSWORD"]).decode() == (
        "pg-pa55w0rd-for-tests"
    )
    assert live["Service"]["postgres"]["spec"]["selector"].items() <= (
        live["StatefulSet"]["postgres"]["spec"]["template"]["metadata"][
            "labels"
        ].items()
    )


def test_removing_the_hpa_deletes_only_the_hpa_and_never_foreign_objects(
    api, workflow, celery_worker, kubeconfig_path
):
    canvas = three_tier_canvas()
    first = api.deploy(workflow["id"], canvas, revision=0)
    assert first["status"] == "completed", first
    before = objects_by_kind(kubeconfig_path)
    kubectl(kubeconfig_path, "create", "namespace", "other")
    foreign_hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "other"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
            },
            "minReplicas": 1,
            "maxReplicas": 2,
        },
    }
    kubectl_apply(kubeconfig_path, foreign_hpa)
    foreign_before = kubectl(kubeconfig_path, "get", "hpa", "web", "-n", "other")

    api.call("POST", f"/workflows/{workflow['id']}/edit")
    canvas["nodes"] = [n for n in canvas["nodes"] if n["type"] != "hpa"]
    canvas["edges"] = [e for e in canvas["edges"] if e["source"] != "web-hpa"]
    second = api.deploy(workflow["id"], canvas, revision=1)

    assert second["status"] == "completed", second
    assert second["version"] == 2
    after = objects_by_kind(kubeconfig_path)
    assert "HorizontalPodAutoscaler" not in after
    for kind, objects in before.items():
        if kind in ("HorizontalPodAutoscaler", "Endpoints"):
            continue
        for name, obj in objects.items():
            assert after[kind][name]["metadata"]["uid"] == obj["metadata"]["uid"], (
                f"{kind} {name} was replaced or deleted"
            )
    foreign_after = kubectl(kubeconfig_path, "get", "hpa", "web", "-n", "other")
    assert (
        foreign_after["metadata"]["resourceVersion"]
        == (foreign_before["metadata"]["resourceVersion"])
    )


def test_an_object_kubeorch_did_not_create_is_never_taken_over(
    api, workflow, celery_worker, kubeconfig_path
):
    foreign = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "default"},
        "data": {"owner": "someone else"},
    }
    kubectl_apply(kubeconfig_path, foreign)

    run = api.deploy(workflow["id"], three_tier_canvas(), revision=0)

    assert run["status"] == "failed"
    config_state = next(s for s in run["node_states"] if s["node_id"] == "web-config")
    assert config_state["state"] == "failed"
    assert "not managed by this workflow" in config_state["message"]
    live = kubectl(kubeconfig_path, "get", "configmap", "web-config", "-n", "default")
    assert live["data"] == {"owner": "someone else"}
    assert "kubeorch.io/workflow" not in (live["metadata"].get("labels") or {})


def test_a_cluster_that_does_not_answer_fails_the_run_in_bounded_time(
    api, owner, celery_worker, settings
):
    from clusters.models import Cluster
    from kubeorch.embedded import free_port
    from workflows.models import Workflow

    settings.KUBEORCH_KUBE_TIMEOUT = 2
    dead = Cluster(
        name="dead",
        owner=owner,
        auth_method="token",
        server=f"http://127.0.0.1:{free_port()}",
    )
    dead.set_credentials({"server": dead.server, "token": "x"})
    dead.save()
    workflow = api.call(
        "POST", "/workflows", {"name": "lost", "cluster_id": str(dead.pk)}, expect=201
    )
    started = time.monotonic()

    run = api.deploy(workflow["id"], three_tier_canvas(), revision=0)

    assert run["status"] == "failed"
    assert "did not answer" in run["summary"] or "refused" in run["summary"], run
    assert time.monotonic() - started < 30
    assert Workflow.objects.get(pk=workflow["id"]).failure_count == 1
