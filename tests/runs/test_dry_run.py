"""Dry run: per node, what a run would change on the live cluster."""

import json
import time

import pytest
from kubernetes import client, config

from kubeorch.embedded import free_port
from runs import actions as run_actions
from tests.factories import make_cluster, make_workflow, three_tier_canvas
from workflows import actions as workflow_actions
from workflows.models import Workflow

pytestmark = pytest.mark.django_db

PASSWORD = "pg-pa55w0rd-for-tests"


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def workflow(owner, cluster):
    return make_workflow(owner, cluster, canvas=three_tier_canvas(), state="published")


def deploy(workflow: Workflow) -> None:
    run = run_actions.start_run(workflow.pk, triggered_by="manual")
    run_actions.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "completed", run.summary


def dry_run(api, workflow, **body):
    response = api.post(f"/v1/api/workflows/{workflow.pk}/dry-run", body, format="json")
    assert response.status_code == 200, response.content
    return response.data


def edit(workflow: Workflow, change) -> None:
    """Move to draft, change the saved canvas, save it (secrets kept)."""
    workflow_actions.move_workflow(workflow.pk, "draft")
    workflow.refresh_from_db()
    nodes = json.loads(json.dumps(workflow.nodes))
    edges = json.loads(json.dumps(workflow.edges))
    nodes, edges = change(nodes, edges)
    workflow_actions.save_canvas(
        workflow.pk, nodes=nodes, edges=edges, base_revision=workflow.revision
    )
    workflow.refresh_from_db()


def by_node(preview) -> dict:
    return {node["node_id"]: node for node in preview["nodes"]}


def actions_of(preview) -> dict:
    return {node["node_id"]: node["action"] for node in preview["nodes"]}


def test_before_any_run_every_node_would_be_created(owner_api, workflow):
    preview = dry_run(owner_api, workflow)

    assert set(actions_of(preview).values()) == {"create"}
    assert preview["summary"]["create"] == len(workflow.nodes)
    assert preview["run_would_stop"] is False


def test_right_after_a_run_every_node_is_unchanged(owner_api, workflow, kubesim):
    deploy(workflow)
    stored_before = kubesim.store.resource_version()

    preview = dry_run(owner_api, workflow)

    assert actions_of(preview) == {node["id"]: "unchanged" for node in workflow.nodes}
    assert all(not o["changes"] for n in preview["nodes"] for o in n["objects"])
    assert kubesim.store.resource_version() == stored_before, "nothing was stored"


def test_after_editing_one_field_exactly_that_node_and_field_change(
    owner_api, workflow
):
    deploy(workflow)

    def new_image(nodes, edges):
        next(n for n in nodes if n["id"] == "web")["data"]["image"] = "nginx:1.28"
        return nodes, edges

    edit(workflow, new_image)
    preview = dry_run(owner_api, workflow)

    changed = {n: a for n, a in actions_of(preview).items() if a != "unchanged"}
    assert changed == {"web": "change"}
    objects = {o["kind"]: o for o in by_node(preview)["web"]["objects"]}
    assert objects["Secret"]["action"] == "unchanged"
    assert objects["Deployment"]["changes"] == [
        {
            "path": "spec.template.spec.containers[name=web].image",
            "before": "nginx:1.27",
            "after": "nginx:1.28",
        }
    ]


def test_a_changed_secret_value_shows_masked_and_never_in_clear(owner_api, workflow):
    deploy(workflow)

    def new_password(nodes, edges):
        secret = next(n for n in nodes if n["id"] == "web-secret")
        secret["data"]["data"]["DATABASE_PASSWORD"] = "a-brand-new-password"
        return nodes, edges

    edit(workflow, new_password)
    response = owner_api.post(
        f"/v1/api/workflows/{workflow.pk}/dry-run", {}, format="json"
    )

    secret = by_node(response.data)["web-secret"]["objects"][0]
    assert secret["action"] == "change"
    assert secret["changes"] == [
        {"path": "data.DATABASE_PASSWORD", "before": "********", "after": "********"}
    ]
    body = response.content.decode()
    for leak in (
        PASSWORD,
        "a-brand-new-password",
        "YS1icmFuZC1uZXctcGFzc3dvcmQ=",
        "cGctcGE1NXcwcmQtZm9yLXRlc3Rz",
        "enc:",
    ):
        assert leak not in body


def test_a_removed_node_is_listed_as_prune(owner_api, workflow):
    deploy(workflow)

    def drop_hpa(nodes, edges):
        nodes = [n for n in nodes if n["id"] != "web-hpa"]
        return nodes, [e for e in edges if e["source"] != "web-hpa"]

    edit(workflow, drop_hpa)
    preview = dry_run(owner_api, workflow)

    hpa = by_node(preview)["web-hpa"]
    assert hpa["action"] == "prune"
    assert [(o["kind"], o["name"]) for o in hpa["objects"]] == [
        ("HorizontalPodAutoscaler", "web")
    ]
    assert preview["summary"]["prune"] == 1


def test_an_object_the_workflow_does_not_own_is_blocked(
    owner_api, workflow, kubeconfig_path
):
    api = config.new_client_from_config(config_file=str(kubeconfig_path))
    client.CoreV1Api(api).create_namespaced_config_map(
        "default", {"metadata": {"name": "web-config"}, "data": {"a": "b"}}
    )
    api.close()

    preview = dry_run(owner_api, workflow)

    config_node = by_node(preview)["web-config"]
    assert config_node["action"] == "blocked"
    assert "not managed by this workflow" in config_node["objects"][0]["message"]


def test_a_kind_the_cluster_does_not_serve_is_an_error(owner_api, owner, cluster):
    workflow = make_workflow(
        owner,
        cluster,
        canvas={
            "nodes": [
                {
                    "id": "cert",
                    "type": "customresource",
                    "position": {"x": 0, "y": 0},
                    "data": {
                        "name": "cert",
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "Certificate",
                        "spec": "secretName: tls\n",
                    },
                }
            ],
            "edges": [],
        },
    )

    preview = dry_run(owner_api, workflow)

    assert actions_of(preview) == {"cert": "error"}
    assert "Certificate" in by_node(preview)["cert"]["objects"][0]["message"]


def test_a_namespace_that_does_not_exist_yet_is_reported(owner_api, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), namespace="shop"
    )

    preview = dry_run(owner_api, workflow)

    assert preview["namespaces_to_create"] == ["shop"]
    assert set(actions_of(preview).values()) == {"create"}


def test_a_version_can_be_previewed_instead_of_the_canvas(owner_api, workflow):
    deploy(workflow)

    def new_image(nodes, edges):
        next(n for n in nodes if n["id"] == "web")["data"]["image"] = "nginx:1.28"
        return nodes, edges

    edit(workflow, new_image)

    preview = dry_run(owner_api, workflow, version=1)

    assert preview["version"] == 1
    assert set(actions_of(preview).values()) == {"unchanged"}


def test_an_unreachable_cluster_answers_502_in_bounded_time(owner_api, owner, settings):
    settings.KUBEORCH_KUBE_TIMEOUT = 2
    dead = make_cluster(owner, "", name="dead")
    dead.auth_method = "token"
    dead.set_credentials({"server": f"http://127.0.0.1:{free_port()}", "token": "x"})
    dead.save()
    workflow = make_workflow(owner, dead, canvas=three_tier_canvas())
    started = time.monotonic()

    response = owner_api.post(
        f"/v1/api/workflows/{workflow.pk}/dry-run", {}, format="json"
    )

    assert response.status_code == 502
    assert "did not answer" in response.data["detail"]
    assert time.monotonic() - started < 10


def test_a_teammate_may_dry_run_and_an_outsider_may_not(
    teammate_api, outsider_api, teammate, workflow
):
    workflow.shared_with.add(teammate)
    url = f"/v1/api/workflows/{workflow.pk}/dry-run"

    assert teammate_api.post(url, {}, format="json").status_code == 200
    assert outsider_api.post(url, {}, format="json").status_code == 404
