"""Run history: GET /v1/api/runs filtered by workflow, status and trigger."""

import pytest

from runs import actions
from runs.models import Run
from tests.factories import make_cluster, make_workflow
from tests.workflows.canvases import web

pytestmark = pytest.mark.django_db


def published(owner, cluster, name):
    canvas = {"nodes": [web()], "edges": []}
    return make_workflow(owner, cluster, canvas=canvas, state="published", name=name)


def finished_run(workflow, status, triggered_by="manual") -> Run:
    run = actions.start_run(workflow.pk, triggered_by=triggered_by)
    actions.finish_run(run.pk, status, status)
    return run


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def shop(owner, cluster):
    workflow = published(owner, cluster, "shop")
    finished_run(workflow, Run.Status.COMPLETED)
    finished_run(workflow, Run.Status.FAILED, "schedule")
    finished_run(workflow, Run.Status.COMPLETED, "webhook")
    return workflow


def ids(response) -> list[str]:
    return [run["id"] for run in response.data["results"]]


def test_the_history_lists_runs_newest_first(owner_api, shop):
    response = owner_api.get("/v1/api/runs")

    assert response.status_code == 200
    assert response.data["count"] == 3
    expected = Run.objects.filter(workflow=shop).order_by("-started_at")
    assert ids(response) == [str(run.pk) for run in expected]
    assert response.data["results"][0]["workflow_id"] == str(shop.pk)


def test_the_history_filters_by_status_trigger_and_workflow(
    owner_api, owner, cluster, shop
):
    other = published(owner, cluster, "other")
    finished_run(other, Run.Status.COMPLETED, "schedule")

    failed = owner_api.get("/v1/api/runs?status=failed")
    scheduled = owner_api.get("/v1/api/runs?triggered_by=schedule")
    shop_scheduled = owner_api.get(
        f"/v1/api/runs?triggered_by=schedule&workflow={shop.pk}"
    )

    assert [r["triggered_by"] for r in failed.data["results"]] == ["schedule"]
    assert scheduled.data["count"] == 2
    assert shop_scheduled.data["count"] == 1
    assert shop_scheduled.data["results"][0]["status"] == "failed"


def test_an_unknown_filter_value_is_refused(owner_api, shop):
    response = owner_api.get("/v1/api/runs?status=exploded")

    assert response.status_code == 400
    assert "status" in response.data


def test_only_runs_of_reachable_workflows_are_listed(
    owner_api, teammate_api, outsider_api, teammate, outsider, cluster, shop
):
    shop.shared_with.add(teammate)
    own = published(outsider, make_cluster(outsider, "", name="theirs"), "theirs")
    finished_run(own, Run.Status.COMPLETED)

    assert teammate_api.get("/v1/api/runs").data["count"] == 3
    assert outsider_api.get("/v1/api/runs").data["count"] == 1
    assert outsider_api.get(f"/v1/api/runs?workflow={shop.pk}").data["count"] == 0
    assert owner_api.get("/v1/api/runs").data["count"] == 3


def test_the_history_query_count_does_not_grow_with_runs(
    owner_api, shop, django_assert_max_num_queries
):
    for _ in range(5):
        finished_run(shop, Run.Status.COMPLETED)

    with django_assert_max_num_queries(5):
        response = owner_api.get("/v1/api/runs")

    assert response.data["count"] == 8
