"""Export of a version as multi-document YAML for `kubectl apply`."""

import base64
import json
import subprocess

import pytest
import yaml

from runs import actions as run_actions
from tests.factories import make_cluster, make_workflow, three_tier_canvas

pytestmark = pytest.mark.django_db

# What a run applies (controllers' own objects, pods and claims, left out).
KINDS = "deploy,sts,svc,ing,hpa,cm,secret"
SECRET_VALUES = ("pg-pa55w0rd-for-tests", "t0k3n-for-tests", "s3ss10n-k3y-f0r-t3sts")
# Set by the server and different on every cluster: not part of "the same".
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
)


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def workflow(owner, cluster):
    return make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published", namespace="shop"
    )


@pytest.fixture
def version(workflow):
    """Version 1, deployed by a run (in this process)."""
    run = run_actions.start_run(workflow.pk, triggered_by="manual")
    run_actions.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "completed", run.summary
    return run.version


def export(api, workflow, number=1, **query):
    url = f"/v1/api/workflows/{workflow.pk}/versions/{number}/export"
    return api.get(url, query)


def documents(response) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(response.content) if doc]


def live_objects(kubeconfig, workflow) -> dict:
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "get",
            KINDS,
            "-A",
            "-l",
            f"kubeorch.io/workflow={workflow.pk}",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): comparable(o)
        for o in json.loads(done.stdout)["items"]
    }


def comparable(obj: dict) -> dict:
    """The object without status, server metadata and assigned cluster IPs."""
    obj = {k: v for k, v in obj.items() if k != "status"}
    obj["metadata"] = {
        k: v for k, v in obj["metadata"].items() if k not in SERVER_METADATA
    }
    if obj["kind"] == "Service":
        obj["spec"] = {
            k: v for k, v in obj["spec"].items() if k not in ("clusterIP", "clusterIPs")
        }
    return obj


def kubectl_apply(kubeconfig, text: str) -> None:
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--field-manager=kubeorch",
            "-f",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_the_export_is_a_yaml_attachment_with_ownership_labels(
    owner_api, workflow, version
):
    response = export(owner_api, workflow)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert response["Content-Disposition"] == 'attachment; filename="shop-v1.yaml"'
    docs = documents(response)
    assert docs[0] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "shop",
            "labels": {"app.kubernetes.io/managed-by": "kubeorch"},
        },
    }
    for doc in docs[1:]:
        labels = doc["metadata"]["labels"]
        assert labels["kubeorch.io/workflow"] == str(workflow.pk)
        assert labels["app.kubernetes.io/managed-by"] == "kubeorch"
        assert labels["kubeorch.io/node"]


def test_without_asking_no_secret_value_leaves_the_server(owner_api, workflow, version):
    response = export(owner_api, workflow)

    text = response.content.decode()
    assert "Secret" not in {doc["kind"] for doc in documents(response)}
    assert "shop/web-secret (API_TOKEN, DATABASE_PASSWORD)" in text
    assert "shop/web-env (SESSION_SECRET)" in text
    for value in SECRET_VALUES:
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    assert "enc:" not in text


def test_only_the_owner_may_export_secret_values(
    owner_api, teammate_api, teammate, workflow, version
):
    workflow.shared_with.add(teammate)

    shared = export(teammate_api, workflow)
    refused = export(teammate_api, workflow, include_secrets="true")
    revealed = export(owner_api, workflow, include_secrets="true")

    assert shared.status_code == 200
    assert refused.status_code == 403
    secrets = {
        d["metadata"]["name"]: d for d in documents(revealed) if d["kind"] == "Secret"
    }
    password = secrets["web-secret"]["data"]["DATABASE_PASSWORD"]
    assert base64.b64decode(password).decode() == "pg-pa55w0rd-for-tests"


def test_an_unknown_version_is_not_found(owner_api, workflow, version):
    assert export(owner_api, workflow, number=4).status_code == 404


@pytest.mark.slow
def test_the_export_applied_with_kubectl_yields_the_objects_of_a_run(
    owner_api, workflow, version, kubesim, kubeconfig_path
):
    deployed = live_objects(kubeconfig_path, workflow)
    text = export(owner_api, workflow, include_secrets="true").content.decode()
    kubesim.reset()
    assert live_objects(kubeconfig_path, workflow) == {}

    kubectl_apply(kubeconfig_path, text)

    applied = live_objects(kubeconfig_path, workflow)
    assert sorted(applied) == sorted(deployed)
    assert ("Secret", "shop", "web-secret") in applied
    for key, obj in deployed.items():
        assert applied[key] == obj, key
