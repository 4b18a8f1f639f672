"""Jobs and CronJobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kubesim import resources as r
from kubesim.clock import parse_time

from .test_controllers import condition, container_status, running


@pytest.fixture
def realistic_kube():
    """A fresh simulated cluster in realistic mode, stepped by hand."""
    yield from running(realistic=True)


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def job(name: str, image: str = "busybox:1.36", **spec) -> dict:
    """Return a Job with one container and restartPolicy Never."""
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": image}],
                }
            }
        },
    }
    body["spec"].update(spec)
    return body


def job_pods(kube, name: str) -> list[dict]:
    """Return the pods of a Job."""
    return kube.list(r.POD, labels={"batch.kubernetes.io/job-name": name})


def types(obj: dict) -> list[str]:
    """Return the condition types of an object that are True."""
    return [
        c["type"]
        for c in obj["status"].get("conditions") or []
        if c["status"] == "True"
    ]


def test_a_job_runs_its_pod_to_completion(kube):
    kube.create(r.JOB, job("once"))

    found = kube.get(r.JOB, "once")
    status = found["status"]
    assert types(found) == ["SuccessCriteriaMet", "Complete"]
    assert condition(found, "Complete")["reason"] == "CompletionsReached"
    assert status["succeeded"] == 1
    assert "active" not in status and "failed" not in status
    assert status["startTime"] and status["completionTime"]
    [pod] = job_pods(kube, "once")
    assert pod["status"]["phase"] == "Succeeded"
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert condition(pod, "Ready")["reason"] == "PodCompleted"
    assert "Completed" in kube.reasons(found)


def test_a_sleeping_job_runs_until_the_clock_passes(kube):
    kube.create(r.JOB, job("nap", image="kubesim/sleep:30"))
    status = kube.get(r.JOB, "nap")["status"]
    assert (status["active"], status["ready"]) == (1, 1)
    assert job_pods(kube, "nap")[0]["status"]["phase"] == "Running"

    kube.advance(31)

    assert types(kube.get(r.JOB, "nap")) == ["SuccessCriteriaMet", "Complete"]


def test_completions_run_with_the_given_parallelism(realistic_kube):
    kube = realistic_kube
    kube.create(r.JOB, job("batch", completions=5, parallelism=2))

    assert kube.get(r.JOB, "batch")["status"]["active"] == 2
    most_active = 0
    for _ in range(80):
        kube.advance(0.25)
        most_active = max(
            most_active, kube.get(r.JOB, "batch")["status"].get("active", 0)
        )

    found = kube.get(r.JOB, "batch")
    assert most_active == 2
    assert found["status"]["succeeded"] == 5
    assert len(job_pods(kube, "batch")) == 5
    assert "Complete" in types(found)


def test_indexed_job_gives_each_pod_its_index(kube):
    kube.create(
        r.JOB, job("indexed", completions=3, parallelism=3, completionMode="Indexed")
    )

    pods = job_pods(kube, "indexed")
    indexes = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        for p in pods
    )
    assert indexes == ["0", "1", "2"]
    assert kube.get(r.JOB, "indexed")["status"]["completedIndexes"] == "0-2"


def test_a_failing_job_retries_then_exceeds_its_backoff_limit(kube):
    kube.create(r.JOB, job("broken", image="kubesim/fail", backoffLimit=2))
    assert kube.get(r.JOB, "broken")["status"]["failed"] == 1
    assert len(job_pods(kube, "broken")) == 1

    kube.advance(10)
    assert kube.get(r.JOB, "broken")["status"]["failed"] == 2
    kube.advance(20)

    found = kube.get(r.JOB, "broken")
    assert found["status"]["failed"] == 3
    assert types(found) == ["FailureTarget", "Failed"]
    failed = condition(found, "Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    pods = job_pods(kube, "broken")
    assert len(pods) == 3
    assert {p["status"]["phase"] for p in pods} == {"Failed"}
    assert container_status(pods[0])["state"]["terminated"]["exitCode"] == 1


def test_a_job_past_its_active_deadline_fails(kube):
    kube.create(r.JOB, job("slow", image="kubesim/sleep:600", activeDeadlineSeconds=60))

    kube.advance(61)

    found = kube.get(r.JOB, "slow")
    assert condition(found, "Failed")["reason"] == "DeadlineExceeded"
    assert [
        p for p in job_pods(kube, "slow") if p["status"]["phase"] == "Running"
    ] == []


def test_a_suspended_job_has_no_pods_until_resumed(kube):
    kube.create(r.JOB, job("held", image="kubesim/sleep:60", suspend=True))
    found = kube.get(r.JOB, "held")
    assert job_pods(kube, "held") == []
    suspended = condition(found, "Suspended")
    assert (suspended["status"], suspended["reason"]) == ("True", "JobSuspended")
    assert "startTime" not in found["status"]

    kube.change(r.JOB, "held", lambda j: j["spec"].__setitem__("suspend", False))

    found = kube.get(r.JOB, "held")
    assert len(job_pods(kube, "held")) == 1
    assert condition(found, "Suspended")["status"] == "False"
    assert found["status"]["startTime"]


def test_a_finished_job_is_deleted_after_its_ttl(kube):
    kube.create(r.JOB, job("short", ttlSecondsAfterFinished=100))
    assert kube.get(r.JOB, "short") is not None

    kube.advance(101)

    assert kube.get(r.JOB, "short") is None
    assert job_pods(kube, "short") == []


def test_on_failure_restarts_count_towards_the_backoff_limit(kube):
    body = job("flaky", image="kubesim/fail", backoffLimit=1)
    body["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    kube.create(r.JOB, body)

    kube.advance(10)

    found = kube.get(r.JOB, "flaky")
    assert condition(found, "Failed")["reason"] == "BackoffLimitExceeded"


# ----- cronjobs


def cronjob(
    name: str, schedule: str = "*/5 * * * *", image: str = "busybox:1.36", **spec
) -> dict:
    """Return a CronJob whose jobs run one container."""
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"cron": name}},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "work", "image": image}],
                        }
                    }
                },
            },
        },
    }
    body["spec"].update(spec)
    return body


def advance_to_next(kube, minutes: int = 5) -> datetime:
    """Advance the clock just past the next multiple of `minutes` (UTC); return it."""
    now = kube.clock.now()
    start = now.replace(second=0, microsecond=0)
    target = start + timedelta(minutes=minutes - start.minute % minutes)
    kube.advance((target - now).total_seconds() + 1)
    return target


def test_cronjob_starts_a_job_at_its_schedule(kube):
    kube.create(r.CRONJOB, cronjob("tick"))
    assert kube.list(r.JOB) == []

    due = advance_to_next(kube)

    [created] = kube.list(r.JOB)
    assert created["metadata"]["name"] == f"tick-{int(due.timestamp() // 60)}"
    assert created["metadata"]["labels"] == {"cron": "tick"}
    assert created["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert "Complete" in types(created)
    status = kube.get(r.CRONJOB, "tick")["status"]
    assert parse_time(status["lastScheduleTime"]) == due
    assert status["lastSuccessfulTime"] == created["status"]["completionTime"]
    assert "active" not in status


def test_cronjob_keeps_a_bounded_history(kube):
    kube.create(r.CRONJOB, cronjob("tick", successfulJobsHistoryLimit=2))

    for _ in range(4):
        advance_to_next(kube)

    assert len(kube.list(r.JOB)) == 2


def test_forbid_skips_a_run_while_the_last_is_active(kube):
    kube.create(
        r.CRONJOB,
        cronjob("long", image="kubesim/sleep:900", concurrencyPolicy="Forbid"),
    )

    advance_to_next(kube)
    advance_to_next(kube)

    [running] = kube.list(r.JOB)
    status = kube.get(r.CRONJOB, "long")["status"]
    assert [ref["name"] for ref in status["active"]] == [running["metadata"]["name"]]


def test_replace_swaps_the_active_job_for_a_new_one(kube):
    kube.create(
        r.CRONJOB,
        cronjob("long", image="kubesim/sleep:900", concurrencyPolicy="Replace"),
    )

    advance_to_next(kube)
    [first] = kube.list(r.JOB)
    advance_to_next(kube)

    [second] = kube.list(r.JOB)
    assert second["metadata"]["name"] != first["metadata"]["name"]


def test_allow_runs_jobs_side_by_side(kube):
    kube.create(r.CRONJOB, cronjob("long", image="kubesim/sleep:900"))

    advance_to_next(kube)
    advance_to_next(kube)

    assert len(kube.list(r.JOB)) == 2
    assert len(kube.get(r.CRONJOB, "long")["status"]["active"]) == 2


def test_a_suspended_cronjob_starts_nothing(kube):
    kube.create(r.CRONJOB, cronjob("held", suspend=True))

    advance_to_next(kube)

    assert kube.list(r.JOB) == []


def test_cronjob_time_zone_is_honoured(kube):
    now = kube.clock.now()
    zone_hour = (now.astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(hours=1)).hour
    kube.create(
        r.CRONJOB,
        cronjob("daily", schedule=f"30 {zone_hour} * * *", timeZone="Asia/Kolkata"),
    )

    kube.advance(2 * 3600)

    [created] = kube.list(r.JOB)
    due = parse_time(kube.get(r.CRONJOB, "daily")["status"]["lastScheduleTime"])
    assert (
        due.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M")
        == f"{zone_hour:02d}:30"
    )
    assert due.tzinfo == UTC
    assert created["metadata"]["annotations"][
        "batch.kubernetes.io/cronjob-scheduled-timestamp"
    ].endswith("+05:30")


def test_a_failed_job_is_counted_and_kept_by_the_failed_limit(kube):
    kube.create(
        r.CRONJOB, cronjob("bad", image="kubesim/fail", failedJobsHistoryLimit=1)
    )
    kube.change(
        r.CRONJOB,
        "bad",
        lambda c: c["spec"]["jobTemplate"]["spec"].__setitem__("backoffLimit", 0),
    )

    advance_to_next(kube)
    advance_to_next(kube)

    [kept] = kube.list(r.JOB)
    assert condition(kept, "Failed")["reason"] == "BackoffLimitExceeded"
    assert "lastSuccessfulTime" not in kube.get(r.CRONJOB, "bad")["status"]
