"""The life cycle of a workflow: every move, allowed or refused, and cleanup.

Archiving removes what the workflow owns in its cluster; these tests deploy
to kubesim for real and look at what is left with kubectl.
"""

import json
import subprocess
import time

import pytest
from kubernetes import client, config

from kubeorch.embedded import free_port
from runs import actions as run_actions
from runs.models import Run
from runs.tasks import remove_workflow_objects_task
from tests.factories import make_cluster, make_workflow
from tests.workflows.canvases import edge, node, web
from workflows import triggers
from workflows.models import Workflow

GROUP = "shop.example.com"
KINDS = "deploy,svc,cm,secret,hpa,ing,widgets"


def deployable_canvas() -> dict:
    """A Deployment with its Service and ConfigMap, and a custom resource."""
    return {
        "nodes": [
            web(),
            node(
                "web-svc", "service", name="web", ports=[{"name": "http", "port": 80}]
            ),
            node("settings", "configmap", name="settings", data={"MODE": "live"}),
            node(
                "widget",
                "customresource",
                name="blue-widget",
                apiVersion=f"{GROUP}/v1",
                kind="Widget",
                spec="size: 3\n",
            ),
        ],
        "edges": [edge("web-svc", "web"), edge("settings", "web", mode="env")],
    }


def widget_crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def kubectl_objects(kubeconfig, selector: str) -> list[dict]:
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "get",
            KINDS,
            "-A",
            "-l",
            selector,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)["items"]


def owned(kubeconfig, workflow) -> list[tuple[str, str]]:
    items = kubectl_objects(kubeconfig, f"kubeorch.io/workflow={workflow.pk}")
    return sorted((item["kind"], item["metadata"]["name"]) for item in items)


@pytest.fixture
def cluster(owner, kubeconfig_text, kubeconfig_path):
    api = config.new_client_from_config(config_file=str(kubeconfig_path))
    client.ApiextensionsV1Api(api).create_custom_resource_definition(widget_crd())
    api.close()
    return make_cluster(owner, kubeconfig_text)


def deploy(workflow) -> Run:
    """Run the workflow to the end in this process (the task's own body)."""
    run = run_actions.start_run(workflow.pk, triggered_by="manual")
    run_actions.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "completed", run.summary
    return run


def ran_once(workflow) -> None:
    """Record a finished run, without deploying anything."""
    run = run_actions.start_run(workflow.pk, triggered_by="manual")
    run_actions.finish_run(run.pk, Run.Status.COMPLETED, "recorded by the test")


def move(api, workflow, gesture: str):
    return api.post(f"/v1/api/workflows/{workflow.pk}/{gesture}")


# Every move of the state table, through the API


ALLOWED = [
    ("draft", "publish", "published"),
    ("draft", "archive", "archived"),
    ("published", "edit", "draft"),
    ("published", "archive", "archived"),
    ("archived", "edit", "draft"),
]
REFUSED = [
    ("archived", "publish", "is archived and cannot be moved to published"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("start, gesture, end", ALLOWED)
def test_every_allowed_move_is_made(owner_api, owner, cluster, start, gesture, end):
    workflow = make_workflow(owner, cluster, canvas=deployable_canvas(), state=start)

    response = move(owner_api, workflow, gesture)

    assert response.status_code == 200, response.content
    assert response.data["state"] == end
    workflow.refresh_from_db()
    assert workflow.state == end


@pytest.mark.django_db
@pytest.mark.parametrize("start, gesture, reason", REFUSED)
def test_every_refused_move_answers_409_with_the_reason(
    owner_api, owner, cluster, start, gesture, reason
):
    workflow = make_workflow(owner, cluster, canvas=deployable_canvas(), state=start)

    response = move(owner_api, workflow, gesture)

    assert response.status_code == 409
    assert reason.lower() in response.data["detail"].lower()
    assert "allowed: draft" in response.data["detail"]
    workflow.refresh_from_db()
    assert workflow.state == start


@pytest.mark.django_db
@pytest.mark.parametrize(
    "state, gesture",
    [
        ("draft", "edit"),
        ("published", "publish"),
        ("archived", "archive"),
    ],
)
def test_a_move_to_the_current_state_is_refused(
    owner_api, owner, cluster, state, gesture
):
    workflow = make_workflow(owner, cluster, canvas=deployable_canvas(), state=state)
    workflow.refresh_from_db()
    updated_at = workflow.updated_at

    response = move(owner_api, workflow, gesture)

    assert response.status_code == 409
    assert f"already {state}" in response.data["detail"]
    workflow.refresh_from_db()
    assert (workflow.state, workflow.updated_at) == (state, updated_at)


@pytest.mark.django_db
def test_publishing_an_empty_draft_is_refused(owner_api, owner, cluster):
    workflow = make_workflow(owner, cluster)

    response = move(owner_api, workflow, "publish")

    assert response.status_code == 409
    assert "empty" in response.data["detail"]


@pytest.mark.django_db
def test_archiving_while_a_run_is_running_is_refused(owner_api, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    run = run_actions.start_run(workflow.pk, triggered_by="manual")

    response = move(owner_api, workflow, "archive")

    assert response.status_code == 409
    assert str(run.pk) in response.data["detail"]
    workflow.refresh_from_db()
    assert workflow.state == "published"


@pytest.mark.django_db
def test_an_outsider_cannot_move_a_workflow(outsider_api, owner, cluster):
    workflow = make_workflow(owner, cluster, canvas=deployable_canvas())

    for gesture in ("publish", "edit", "archive"):
        assert move(outsider_api, workflow, gesture).status_code == 404
    workflow.refresh_from_db()
    assert workflow.state == "draft"


# The same rule in the admin


@pytest.mark.django_db
def test_the_admin_actions_make_allowed_moves_and_show_refusals(
    admin_client, owner, cluster
):
    draft = make_workflow(owner, cluster, canvas=deployable_canvas(), name="a")
    archived = make_workflow(
        owner, cluster, canvas=deployable_canvas(), name="b", state="archived"
    )

    response = admin_client.post(
        "/admin/workflows/workflow/",
        {"action": "move_to_published", "_selected_action": [draft.pk, archived.pk]},
        follow=True,
    )

    draft.refresh_from_db()
    archived.refresh_from_db()
    assert (draft.state, archived.state) == ("published", "archived")
    shown = [str(message) for message in response.context["messages"]]
    assert any(
        "b: This workflow is archived and cannot be moved to published" in m
        for m in shown
    ), shown


@pytest.mark.django_db
def test_the_admin_archive_action_refuses_while_a_run_runs(
    admin_client, owner, cluster
):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    run_actions.start_run(workflow.pk, triggered_by="manual")

    admin_client.post(
        "/admin/workflows/workflow/",
        {"action": "move_to_archived", "_selected_action": [workflow.pk]},
    )

    workflow.refresh_from_db()
    assert workflow.state == "published"


# Archiving cleans the cluster


@pytest.mark.django_db
def test_archiving_removes_every_object_the_workflow_owns_and_nothing_else(
    owner_api, owner, cluster, kubeconfig_path, django_capture_on_commit_callbacks
):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    other = make_workflow(
        owner,
        cluster,
        canvas=deployable_canvas(),
        name="other",
        namespace="other",
        state="published",
    )
    deploy(workflow)
    deploy(other)
    assert ("Widget", "blue-widget") in owned(kubeconfig_path, workflow)
    others_before = owned(kubeconfig_path, other)

    with django_capture_on_commit_callbacks() as enqueued:
        response = move(owner_api, workflow, "archive")
    remove_workflow_objects_task(str(workflow.pk))

    assert response.status_code == 200
    assert len(enqueued) == 1, "the removal is enqueued once the archive commits"
    assert owned(kubeconfig_path, workflow) == []
    assert owned(kubeconfig_path, other) == others_before
    workflow.refresh_from_db()
    assert workflow.cleanup_state == "done"
    assert "Removed" in workflow.cleanup_message


@pytest.mark.django_db
def test_restoring_waits_for_a_removal_in_progress(
    owner_api, owner, cluster, django_capture_on_commit_callbacks
):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    ran_once(workflow)
    with django_capture_on_commit_callbacks():
        move(owner_api, workflow, "archive")

    refused = move(owner_api, workflow, "edit")
    remove_workflow_objects_task(str(workflow.pk))
    restored = move(owner_api, workflow, "edit")

    assert refused.status_code == 409
    assert "still being removed" in refused.data["detail"]
    assert restored.status_code == 200 and restored.data["state"] == "draft"


@pytest.mark.django_db
def test_a_failed_removal_is_recorded_and_archiving_again_retries_it(
    owner_api, owner, settings, django_capture_on_commit_callbacks
):
    settings.KUBEORCH_KUBE_TIMEOUT = 2
    dead = make_cluster(owner, "", name="dead")
    dead.auth_method = "token"
    dead.set_credentials({"server": f"http://127.0.0.1:{free_port()}", "token": "x"})
    dead.save()
    workflow = make_workflow(owner, dead, canvas=deployable_canvas(), state="published")
    ran_once(workflow)

    with django_capture_on_commit_callbacks():
        move(owner_api, workflow, "archive")
    remove_workflow_objects_task(str(workflow.pk))
    workflow.refresh_from_db()
    with django_capture_on_commit_callbacks() as retried:
        again = move(owner_api, workflow, "archive")

    assert workflow.cleanup_state == "failed"
    assert "Not removed" in workflow.cleanup_message
    assert again.status_code == 200
    assert len(retried) == 1
    assert Workflow.objects.get(pk=workflow.pk).cleanup_state == "pending"


@pytest.mark.django_db
def test_archiving_a_workflow_that_never_ran_asks_nothing_of_the_cluster(
    owner_api, owner, cluster, django_capture_on_commit_callbacks
):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )

    with django_capture_on_commit_callbacks() as enqueued:
        move(owner_api, workflow, "archive")

    workflow.refresh_from_db()
    assert enqueued == []
    assert workflow.cleanup_state == "done"


@pytest.mark.django_db
def test_archiving_pauses_the_schedule(owner_api, owner, cluster):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    triggers.set_schedule(workflow.pk, cron="*/5 * * * *", time_zone="UTC")

    move(owner_api, workflow, "archive")

    workflow.refresh_from_db()
    assert workflow.schedule_enabled is False
    assert workflow.schedule_task.enabled is False
    assert workflow.schedule_cron == "*/5 * * * *"


@pytest.mark.slow
def test_archiving_through_a_real_worker_empties_the_cluster(
    celery_worker, owner_api, owner, cluster, kubeconfig_path
):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    run = run_actions.start_run(workflow.pk, triggered_by="manual")
    wait_for(lambda: Run.objects.get(pk=run.pk).status != "running")
    assert owned(kubeconfig_path, workflow)

    response = move(owner_api, workflow, "archive")
    wait_for(lambda: Workflow.objects.get(pk=workflow.pk).cleanup_state != "pending")

    assert response.status_code == 200
    assert Workflow.objects.get(pk=workflow.pk).cleanup_state == "done"
    assert owned(kubeconfig_path, workflow) == []


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.django_db
def test_the_admin_page_shows_cleanup_and_schedule_but_no_webhook_secret(
    admin_client, owner_api, owner, cluster
):
    workflow = make_workflow(
        owner, cluster, canvas=deployable_canvas(), state="published"
    )
    secret = owner_api.post(f"/v1/api/workflows/{workflow.pk}/webhook").data["secret"]
    triggers.set_schedule(workflow.pk, cron="0 4 * * *", time_zone="UTC")

    page = admin_client.get(f"/admin/workflows/workflow/{workflow.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "0 4 * * *" in text
    assert secret not in text
    workflow.refresh_from_db()
    assert workflow.webhook_secret_hash not in text
