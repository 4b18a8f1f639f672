"""CronJob: start a Job at each scheduled time, keep a bounded history."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from ..clock import format_time
from ..resources import CRONJOB, JOB
from ..store import clone
from .base import Controller
from .meta import condition_is, is_deleting, owner_reference, seconds_of

logger = logging.getLogger(__name__)

COMPONENT = "cronjob-controller"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class CronJobController(Controller):
    """Create Jobs on schedule, honouring suspend, concurrency and history limits."""

    primary = CRONJOB
    name = "cronjob"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[JOB.key] = self.on_job

    def on_job(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the CronJob that owns a changed Job."""
        self.enqueue_owner(obj, "CronJob")

    def reconcile(self, namespace: str, name: str) -> None:
        """Tidy the history, start the Job that is due, and write the status."""
        cronjob = self.cache.get(CRONJOB, namespace, name)
        if cronjob is None or is_deleting(cronjob):
            return
        jobs = self.cache.children(cronjob["metadata"]["uid"], JOB)
        self._clean_history(cronjob, jobs)
        status = clone(cronjob.get("status") or {})
        spec = cronjob.get("spec") or {}
        if not spec.get("suspend"):
            self._run_due(cronjob, status)
        jobs = self.cache.children(cronjob["metadata"]["uid"], JOB)
        self._summarise(cronjob, status, jobs)
        self.ctx.set_status(CRONJOB, cronjob, status)

    # ----- schedule

    def _run_due(self, cronjob: dict, status: dict) -> None:
        schedule = _Schedule.of(cronjob)
        if schedule is None:
            self.ctx.events.record_once(
                cronjob,
                CRONJOB,
                "Warning",
                "UnparseableSchedule",
                f"unparseable schedule: {cronjob['spec'].get('schedule')!r}",
                COMPONENT,
            )
            return
        now = self.ctx.clock.now()
        meta = cronjob["metadata"]
        self.enqueue_at(
            (meta["namespace"], meta["name"]), schedule.next_after(now).timestamp()
        )
        since = (
            seconds_of(status.get("lastScheduleTime") or meta.get("creationTimestamp"))
            or 0
        )
        due = schedule.latest_at_or_before(now)
        if due is None or due.timestamp() <= since:
            return
        deadline = (cronjob.get("spec") or {}).get("startingDeadlineSeconds")
        if deadline is not None and now.timestamp() - due.timestamp() > int(deadline):
            self.ctx.events.record_once(
                cronjob,
                CRONJOB,
                "Warning",
                "MissSchedule",
                f"Missed scheduled time to start a job: {format_time(due)}",
                COMPONENT,
            )
            return
        if not self._make_room(cronjob):
            return
        if self._start_job(cronjob, due, schedule.zone):
            status["lastScheduleTime"] = format_time(due)

    def _make_room(self, cronjob: dict) -> bool:
        """Apply the concurrency policy; False when the Job must not start now."""
        policy = (cronjob.get("spec") or {}).get("concurrencyPolicy") or "Allow"
        active = [
            j
            for j in self.cache.children(cronjob["metadata"]["uid"], JOB)
            if not _finished(j)
        ]
        if not active or policy == "Allow":
            return True
        if policy == "Forbid":
            return False
        for job in active:
            self.ctx.delete(JOB, job)
            self.ctx.events.record(
                cronjob,
                CRONJOB,
                "Normal",
                "SuccessfulDelete",
                f"Deleted job {job['metadata']['name']}",
                COMPONENT,
            )
        return True

    def _start_job(self, cronjob: dict, due: datetime, zone) -> bool:
        meta = cronjob["metadata"]
        template = clone((cronjob.get("spec") or {}).get("jobTemplate") or {})
        name = f"{meta['name']}-{int(due.timestamp() // 60)}"
        if self.cache.get(JOB, meta["namespace"], name) is not None:
            return True
        job_meta = clone(template.get("metadata") or {})
        job_meta.update(
            {
                "name": name,
                "namespace": meta["namespace"],
                "ownerReferences": [owner_reference(cronjob, CRONJOB)],
            }
        )
        job_meta.setdefault("annotations", {})[SCHEDULED_ANNOTATION] = due.astimezone(
            zone
        ).isoformat()
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": job_meta,
            "spec": template.get("spec") or {},
        }
        if self.ctx.create(JOB, job) is None:
            return False
        self.ctx.events.record(
            cronjob,
            CRONJOB,
            "Normal",
            "SuccessfulCreate",
            f"Created job {name}",
            COMPONENT,
        )
        return True

    # ----- history and status

    def _clean_history(self, cronjob: dict, jobs: list[dict]) -> None:
        spec = cronjob.get("spec") or {}
        limits = (
            (
                lambda j: condition_is(j.get("status"), "Complete"),
                spec.get("successfulJobsHistoryLimit", 3),
            ),
            (
                lambda j: condition_is(j.get("status"), "Failed"),
                spec.get("failedJobsHistoryLimit", 1),
            ),
        )
        for matches, limit in limits:
            finished = sorted((j for j in jobs if matches(j)), key=_start_time)
            keep = int(limit if limit is not None else 0)
            for job in finished[: max(0, len(finished) - keep)]:
                self.ctx.delete(JOB, job)
                self.ctx.events.record(
                    cronjob,
                    CRONJOB,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted job {job['metadata']['name']}",
                    COMPONENT,
                )

    def _summarise(self, cronjob: dict, status: dict, jobs: list[dict]) -> None:
        active = [j for j in jobs if not _finished(j)]
        known = {ref.get("uid"): ref for ref in status.get("active") or []}
        if active:
            # A reference keeps the version it was made with, as the real one does.
            status["active"] = [
                known.get(j["metadata"]["uid"]) or _reference(j) for j in active
            ]
        else:
            status.pop("active", None)
        for job in jobs:
            if not condition_is(job.get("status"), "Complete"):
                continue
            done = (job.get("status") or {}).get("completionTime")
            if done and (seconds_of(done) or 0) > (
                seconds_of(status.get("lastSuccessfulTime")) or 0
            ):
                status["lastSuccessfulTime"] = done
                self.ctx.events.record(
                    cronjob,
                    CRONJOB,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {job['metadata']['name']}, condition: "
                    "Complete",
                    COMPONENT,
                )
        for job in jobs:
            if condition_is(job.get("status"), "Failed"):
                self.ctx.events.record_once(
                    cronjob,
                    CRONJOB,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {job['metadata']['name']}, condition: Failed",
                    COMPONENT,
                )


class _Schedule:
    """A cron schedule in its time zone."""

    def __init__(self, expression: str, zone) -> None:
        self.expression = expression
        self.zone = zone

    @classmethod
    def of(cls, cronjob: dict) -> _Schedule | None:
        """Return the CronJob's schedule, or None when it cannot be parsed."""
        spec = cronjob.get("spec") or {}
        expression = (spec.get("schedule") or "").strip()
        try:
            zone = ZoneInfo(spec["timeZone"]) if spec.get("timeZone") else UTC
        except (ZoneInfoNotFoundError, ValueError):
            return None
        if not croniter.is_valid(expression):
            return None
        return cls(expression, zone)

    def next_after(self, now: datetime) -> datetime:
        """Return the first scheduled time after now."""
        return self._iter(now).get_next(datetime)

    def latest_at_or_before(self, now: datetime) -> datetime | None:
        """Return the most recent scheduled time not after now."""
        try:
            # Start one second on, so a time exactly now counts as due.
            later = datetime.fromtimestamp(int(now.timestamp()) + 1, tz=UTC)
            return self._iter(later).get_prev(datetime)
        except CroniterBadCronError:
            return None

    def _iter(self, moment: datetime) -> croniter:
        return croniter(self.expression, moment.astimezone(self.zone))


def _finished(job: dict) -> bool:
    status = job.get("status")
    return condition_is(status, "Complete") or condition_is(status, "Failed")


def _start_time(job: dict) -> tuple:
    status = job.get("status") or {}
    return (
        status.get("startTime") or job["metadata"].get("creationTimestamp") or "",
        job["metadata"]["name"],
    )


def _reference(job: dict) -> dict:
    meta = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta["uid"],
        "resourceVersion": meta.get("resourceVersion"),
    }
