"""Run bookkeeping: one at a time, cancellation, dead workers, counters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs import actions
from runs.models import Run
from tests.factories import make_cluster, make_workflow, three_tier_canvas

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(owner, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    return make_workflow(owner, cluster, canvas=three_tier_canvas(), state="published")


def start(workflow, api=None):
    return actions.start_run(workflow.pk, triggered_by="manual")


def test_a_run_snapshots_a_numbered_version_and_pending_node_states(published):
    first = start(published)
    actions.finish_run(first.pk, Run.Status.COMPLETED, "done")
    second = start(published)

    assert (first.version.number, second.version.number) == (1, 2)
    assert second.version.nodes == published.nodes
    assert {s.node_id for s in second.node_states.all()} == {
        n["id"] for n in published.nodes
    }
    assert {s.state for s in second.node_states.all()} == {"pending"}


def test_the_api_answers_run_id_and_version_at_once(owner_api, published):
    response = owner_api.post(
        f"/v1/api/workflows/{published.pk}/run",
        {"trigger_data": {"why": "test"}},
        format="json",
    )

    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.data["run_id"])
    assert response.data["version"] == run.version.number == 1
    assert run.trigger_data == {"why": "test"}
    assert run.triggered_by == "manual"


def test_a_second_run_while_one_runs_is_refused(owner_api, published):
    start(published)

    response = owner_api.post(
        f"/v1/api/workflows/{published.pk}/run", {}, format="json"
    )

    assert response.status_code == 409
    assert "in progress" in response.data["detail"]
    assert published.runs.count() == 1


def test_cancelling_a_run_no_worker_took_ends_it_cancelled(owner_api, published):
    run = start(published)

    response = owner_api.post(f"/v1/api/runs/{run.pk}/cancel")

    assert response.status_code == 200
    assert response.data["status"] == "cancelled"
    assert owner_api.post(f"/v1/api/runs/{run.pk}/cancel").status_code == 409


def test_a_redelivered_run_whose_worker_died_is_failed_not_reapplied(published):
    run = start(published)
    Run.objects.filter(pk=run.pk).update(worker_started=True)

    actions.execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == "failed"
    assert "worker" in run.summary and "died" in run.summary


def test_runs_whose_worker_stopped_reporting_are_finished_as_failed(
    published, settings
):
    settings.KUBEORCH_RUN_HEARTBEAT_TIMEOUT = 60
    run = start(published)
    stale = timezone.now() - timedelta(seconds=61)
    Run.objects.filter(pk=run.pk).update(worker_started=True, heartbeat_at=stale)

    finished = actions.fail_abandoned_runs()

    run.refresh_from_db()
    assert finished == [run.pk]
    assert run.status == "failed" and "stopped reporting" in run.summary
    assert run.completed_at is not None and run.duration_ms is not None


def test_a_live_run_is_left_alone_by_the_reaper(published):
    run = start(published)
    Run.objects.filter(pk=run.pk).update(
        worker_started=True, heartbeat_at=timezone.now()
    )

    assert actions.fail_abandoned_runs() == []
    run.refresh_from_db()
    assert run.status == "running"


def test_finishing_twice_changes_nothing_and_counts_once(published):
    run = start(published)

    actions.finish_run(run.pk, Run.Status.COMPLETED, "ok")
    actions.finish_run(run.pk, Run.Status.FAILED, "late")

    run.refresh_from_db()
    published.refresh_from_db()
    assert run.status == "completed" and run.summary == "ok"
    assert (published.run_count, published.success_count, published.failure_count) == (
        1,
        1,
        0,
    )


def test_an_outsider_cannot_read_or_cancel_a_run(outsider_api, published):
    run = start(published)

    assert outsider_api.get(f"/v1/api/runs/{run.pk}").status_code == 404
    assert outsider_api.post(f"/v1/api/runs/{run.pk}/cancel").status_code == 404


def test_a_cluster_unshared_after_the_workflow_was_made_cannot_be_run_on(
    owner_api, owner, teammate, kubeconfig_text
):
    cluster = make_cluster(teammate, kubeconfig_text, name="tariq's")
    cluster.shared_with.add(owner)
    workflow = make_workflow(
        owner, cluster, canvas=three_tier_canvas(), state="published"
    )
    cluster.shared_with.remove(owner)

    response = owner_api.post(f"/v1/api/workflows/{workflow.pk}/run", {}, format="json")

    assert response.status_code == 403
    assert "cluster" in response.data["detail"]
    assert workflow.runs.count() == 0
