"""The admin shows workflows, versions and runs, never secret values."""

import pytest
from django.contrib.auth import get_user_model

from runs import actions as run_actions
from tests.factories import make_cluster, make_workflow, three_tier_canvas

pytestmark = pytest.mark.django_db

SECRET_VALUES = ("pg-pa55w0rd-for-tests", "t0k3n-for-tests", "s3ss10n-k3y-f0r-t3sts")


@pytest.fixture
def operator_client(client):
    operator = get_user_model().objects.create_superuser("ops", password="pw-ops")
    client.force_login(operator)
    return client


@pytest.fixture
def run(owner, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )
    return run_actions.start_run(workflow.pk, triggered_by="manual")


def test_admin_pages_never_show_secret_values(operator_client, run):
    pages = [
        "/admin/workflows/workflow/",
        f"/admin/workflows/workflow/{run.workflow.pk}/change/",
        f"/admin/workflows/workflowversion/{run.version.pk}/change/",
        "/admin/runs/run/",
        f"/admin/runs/run/{run.pk}/change/",
        "/admin/runs/terminalsession/",
        "/admin/runs/nodestatus/",
    ]
    for page in pages:
        response = operator_client.get(page)
        body = response.content.decode()

        assert response.status_code == 200, page
        for value in SECRET_VALUES:
            assert value not in body, page
        assert "enc:" not in body, page
    canvas_page = operator_client.get(pages[1]).content.decode()
    assert "********" in canvas_page


def test_admin_state_action_goes_through_the_lifecycle_rules(operator_client, run):
    workflow = run.workflow
    response = operator_client.post(
        "/admin/workflows/workflow/",
        {"action": "move_to_draft", "_selected_action": [str(workflow.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    workflow.refresh_from_db()
    assert workflow.state == "draft"


def test_admin_can_finish_a_stuck_run_as_failed(operator_client, run):
    operator_client.post(
        "/admin/runs/run/",
        {"action": "fail_runs", "_selected_action": [str(run.pk)]},
        follow=True,
    )

    run.refresh_from_db()
    assert run.status == "failed"
    assert "admin" in run.summary
