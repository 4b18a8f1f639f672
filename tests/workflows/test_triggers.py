"""Runs without a browser: the webhook and the cron schedule."""

import hashlib
import logging
import threading
from datetime import UTC, datetime

import pytest
from django.db import connections
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from rest_framework.test import APIClient

from kubeorch.celery import app as celery_app
from runs import actions as run_actions
from runs.models import Run
from runs.tasks import scheduled_run_task
from tests.factories import make_cluster, make_workflow
from tests.workflows.canvases import web
from workflows import triggers


def canvas() -> dict:
    return {"nodes": [web()], "edges": []}


@pytest.fixture
def cluster(owner, kubeconfig_text):
    return make_cluster(owner, kubeconfig_text)


@pytest.fixture
def published(owner, cluster):
    return make_workflow(owner, cluster, canvas=canvas(), state="published")


def base(workflow) -> str:
    return f"/v1/api/workflows/{workflow.pk}"


def anonymous() -> APIClient:
    """A caller with no login at all, and CSRF checks on."""
    return APIClient(enforce_csrf_checks=True)


def hook_url(workflow, secret: str) -> str:
    return f"/v1/api/hooks/{workflow.pk}/{secret}"


# Webhook


@pytest.mark.django_db
def test_creating_a_webhook_shows_its_url_once_and_stores_only_a_digest(
    owner_api, published
):
    response = owner_api.post(base(published) + "/webhook")

    assert response.status_code == 201, response.content
    secret = response.data["secret"]
    assert response.data["url"].endswith(hook_url(published, secret))
    published.refresh_from_db()
    assert published.webhook_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    status = owner_api.get(base(published) + "/webhook")
    assert status.data["enabled"] is True
    assert secret not in status.content.decode()


@pytest.mark.django_db
def test_the_right_secret_starts_exactly_one_webhook_run(owner_api, published):
    secret = owner_api.post(base(published) + "/webhook").data["secret"]

    response = anonymous().post(
        hook_url(published, secret), {"ref": "refs/heads/main"}, format="json"
    )

    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert str(run.pk) == str(response.data["run_id"])
    assert run.triggered_by == "webhook"
    assert run.trigger_data == {"ref": "refs/heads/main"}
    assert run.triggered_by_user is None


@pytest.mark.django_db
def test_the_secret_may_come_in_a_header_instead(owner_api, published):
    secret = owner_api.post(base(published) + "/webhook").data["secret"]

    response = anonymous().post(
        f"/v1/api/hooks/{published.pk}", HTTP_X_KUBEORCH_WEBHOOK_SECRET=secret
    )
    without = anonymous().post(f"/v1/api/hooks/{published.pk}")

    assert response.status_code == 202, response.content
    assert without.status_code == 404
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_wrong_or_rotated_away_secret_is_refused_and_starts_nothing(
    owner_api, published
):
    first = owner_api.post(base(published) + "/webhook").data["secret"]
    second = owner_api.post(base(published) + "/webhook").data["secret"]

    wrong = anonymous().post(hook_url(published, "not-the-secret"))
    rotated = anonymous().post(hook_url(published, first))

    assert (wrong.status_code, rotated.status_code) == (404, 404)
    assert Run.objects.count() == 0
    assert anonymous().post(hook_url(published, second)).status_code == 202
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_disabled_webhook_refuses_every_call(owner_api, published):
    secret = owner_api.post(base(published) + "/webhook").data["secret"]

    assert owner_api.delete(base(published) + "/webhook").status_code == 204
    response = anonymous().post(hook_url(published, secret))

    assert response.status_code == 404
    assert owner_api.get(base(published) + "/webhook").data["enabled"] is False
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_secret_for_another_workflow_is_refused(owner_api, owner, cluster, published):
    other = make_workflow(
        owner, cluster, canvas=canvas(), state="published", name="other"
    )
    secret = owner_api.post(base(other) + "/webhook").data["secret"]

    response = anonymous().post(hook_url(published, secret))

    assert response.status_code == 404
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_webhook_call_while_a_run_runs_is_refused(owner_api, published):
    secret = owner_api.post(base(published) + "/webhook").data["secret"]
    anonymous().post(hook_url(published, secret))

    second = anonymous().post(hook_url(published, secret))

    assert second.status_code == 409
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_only_the_owner_manages_the_webhook(
    owner_api, teammate_api, outsider_api, teammate, published
):
    published.shared_with.add(teammate)
    url = base(published) + "/webhook"

    assert teammate_api.get(url).status_code == 200
    assert teammate_api.post(url).status_code == 403
    assert teammate_api.delete(url).status_code == 403
    assert outsider_api.get(url).status_code == 404
    assert outsider_api.post(url).status_code == 404
    published.refresh_from_db()
    assert not published.has_webhook()


# Schedule


@pytest.mark.django_db
def test_setting_a_schedule_creates_its_beat_entry(owner_api, published):
    response = owner_api.put(
        base(published) + "/schedule",
        {"cron": "30 2 * * 1-5", "timezone": "Europe/Paris"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.data["enabled"] is True
    assert len(response.data["next_runs"]) == 3
    task = PeriodicTask.objects.get()
    assert task.task == "runs.tasks.scheduled_run_task"
    assert task.args == f'["{published.pk}"]'
    assert task.enabled is True
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "2", "1-5")
    assert str(crontab.timezone) == "Europe/Paris"


@pytest.mark.django_db
def test_celery_beat_reads_the_schedule_from_the_database(published):
    triggers.set_schedule(published.pk, cron="*/15 * * * *", time_zone="UTC")

    scheduler = DatabaseScheduler(app=celery_app, lazy=True)
    entries = scheduler.all_as_schedule()

    entry = entries[f"kubeorch workflow {published.pk} schedule"]
    assert entry.task == "runs.tasks.scheduled_run_task"
    assert list(entry.args) == [str(published.pk)]
    assert entry.schedule.minute == {0, 15, 30, 45}


@pytest.mark.django_db
def test_changing_a_schedule_replaces_its_crontab(owner_api, published):
    url = base(published) + "/schedule"
    owner_api.put(url, {"cron": "0 3 * * *"}, format="json")

    response = owner_api.put(url, {"cron": "@hourly", "enabled": False}, format="json")

    assert response.data["cron"] == "0 * * * *"
    assert response.data["enabled"] is False and response.data["next_runs"] == []
    assert PeriodicTask.objects.count() == 1
    assert PeriodicTask.objects.get().enabled is False
    assert list(CrontabSchedule.objects.values_list("hour", flat=True)) == ["*"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_bad_schedule_is_refused_per_field(owner_api, published, body, field):
    response = owner_api.put(base(published) + "/schedule", body, format="json")

    assert response.status_code == 400
    assert field in response.data
    assert PeriodicTask.objects.count() == 0


@pytest.mark.django_db
def test_deleting_the_schedule_removes_its_beat_entry(owner_api, published):
    url = base(published) + "/schedule"
    owner_api.put(url, {"cron": "0 3 * * *"}, format="json")

    assert owner_api.delete(url).status_code == 204

    assert PeriodicTask.objects.count() == 0
    assert CrontabSchedule.objects.count() == 0
    assert owner_api.get(url).status_code == 404


@pytest.mark.django_db
def test_next_runs_follow_the_time_zone(published):
    triggers.set_schedule(published.pk, cron="0 9 * * *", time_zone="America/New_York")
    published.refresh_from_db()
    noon_utc = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 07:00 in New York

    first = triggers.next_fire_times(published, count=1, now=noon_utc)[0]

    assert first.astimezone(UTC) == datetime(2026, 1, 15, 14, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_only_the_owner_manages_the_schedule(
    teammate_api, outsider_api, teammate, published
):
    published.shared_with.add(teammate)
    url = base(published) + "/schedule"
    triggers.set_schedule(published.pk, cron="0 3 * * *", time_zone="UTC")

    assert teammate_api.get(url).status_code == 200
    assert (
        teammate_api.put(url, {"cron": "* * * * *"}, format="json").status_code == 403
    )
    assert teammate_api.delete(url).status_code == 403
    assert outsider_api.get(url).status_code == 404
    assert (
        outsider_api.put(url, {"cron": "* * * * *"}, format="json").status_code == 404
    )
    assert PeriodicTask.objects.get().crontab.hour == "3"


@pytest.mark.django_db
def test_a_scheduled_run_is_triggered_by_schedule(published):
    run_id = scheduled_run_task(str(published.pk))

    run = Run.objects.get()
    assert str(run.pk) == run_id
    assert run.triggered_by == "schedule"


@pytest.mark.django_db
def test_two_fires_back_to_back_start_one_run_and_log_the_skip(published, caplog):
    caplog.set_level(logging.INFO, logger="workflows.triggers")

    first = scheduled_run_task(str(published.pk))
    second = scheduled_run_task(str(published.pk))

    assert first is not None and second is None
    assert Run.objects.filter(workflow=published).count() == 1
    assert "skipped" in caplog.text and "in progress" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_two_fires_at_the_same_moment_start_one_run(published):
    barrier = threading.Barrier(2)
    results = []

    def fire() -> None:
        barrier.wait()
        try:
            results.append(scheduled_run_task(str(published.pk)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 2 and None in results
    assert len([r for r in results if r]) == 1
    assert Run.objects.filter(workflow=published).count() == 1


@pytest.mark.django_db
def test_a_fire_for_a_draft_is_skipped(owner, cluster, caplog):
    draft = make_workflow(owner, cluster, canvas=canvas())
    caplog.set_level(logging.INFO, logger="workflows.triggers")

    assert scheduled_run_task(str(draft.pk)) is None

    assert Run.objects.count() == 0
    assert "draft" in caplog.text


@pytest.mark.django_db
def test_a_schedule_fires_again_once_the_run_finished(published):
    first = scheduled_run_task(str(published.pk))
    run_actions.finish_run(first, Run.Status.COMPLETED, "done")

    second = scheduled_run_task(str(published.pk))

    assert second is not None and second != first
