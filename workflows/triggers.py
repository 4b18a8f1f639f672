"""Runs without a browser: a cron schedule and a webhook per workflow.

Schedule: a five-field cron expression and an IANA time zone on the
workflow. Celery beat (django_celery_beat's DatabaseScheduler) fires one
PeriodicTask per workflow, kept in step here, which calls
`runs.tasks.scheduled_run_task(workflow_id)`. A fire that finds a run in
progress (two fires at once, or a long run), or a workflow that is not
published, is skipped and logged. Archiving pauses the schedule.

Webhook: `POST /v1/api/hooks/<workflow_id>/<secret>`, or
`POST /v1/api/hooks/<workflow_id>` with the secret in the
`X-KubeOrch-Webhook-Secret` header (kept out of access logs). The secret is
32 random bytes, shown once when created or rotated; only its SHA-256 digest
is stored, and a presented secret is compared in constant time.

Both kinds of run deploy secret values from their encrypted store.
"""

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from croniter import croniter
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from kubeorch.api import Conflict

from .kinds.formats import time_zone as check_time_zone
from .models import Workflow

logger = logging.getLogger(__name__)

SCHEDULE_TASK = "runs.tasks.scheduled_run_task"
SCHEDULE_FIELDS = (
    "schedule_task",
    "schedule_cron",
    "schedule_timezone",
    "schedule_enabled",
)
WEBHOOK_HEADER = "X-KubeOrch-Webhook-Secret"
# A fire the beat could not deliver within this long is dropped, not queued
# behind the next one.
SCHEDULE_EXPIRES_SECONDS = 300
CRON_SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class ScheduleInvalid(ValueError):
    """A cron expression or time zone that cannot be scheduled."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class WebhookRefused(Exception):
    """No workflow with this id has a webhook with this secret."""


# Schedule ----------------------------------------------------------------------


def check_schedule(cron: str, time_zone: str) -> tuple[str, str]:
    """Return the cron expression (five fields) and time zone, or raise."""
    expression = " ".join(cron.split())
    expression = CRON_SHORTHANDS.get(expression.lower(), expression)
    fields = expression.split(" ")
    if len(fields) != 5:
        raise ScheduleInvalid(
            "cron",
            "Must have 5 fields: minute hour day-of-month month day-of-week "
            "(e.g. '0 3 * * 1-5').",
        )
    if not croniter.is_valid(expression) or not _celery_accepts(fields):
        raise ScheduleInvalid(
            "cron", "Is not a valid cron expression (e.g. '*/15 * * * *')."
        )
    problem = check_time_zone(time_zone)
    if problem:
        raise ScheduleInvalid("timezone", problem[0].upper() + problem[1:])
    return expression, time_zone


def _celery_accepts(fields: list[str]) -> bool:
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except (ValueError, KeyError):
        return False
    return True


def set_schedule(workflow_id, *, cron: str, time_zone: str, enabled: bool = True):
    """Store a workflow's schedule and its beat entry; return the workflow."""
    expression, time_zone = check_schedule(cron, time_zone)
    with transaction.atomic():
        # An archive at the same moment pauses the schedule: one goes first.
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        if workflow.state == Workflow.State.ARCHIVED:
            raise Conflict("This workflow is archived; restore it before scheduling.")
        previous = workflow.schedule_task.crontab_id if workflow.schedule_task else None
        task = _periodic_task(workflow)
        task.crontab = _crontab(expression, time_zone)
        task.enabled = enabled
        task.save()
        workflow.schedule_task = task
        workflow.schedule_cron, workflow.schedule_timezone = expression, time_zone
        workflow.schedule_enabled = enabled
        workflow.save(update_fields=[*SCHEDULE_FIELDS, "updated_at"])
        _drop_unused_crontab(previous)
    logger.info(
        "workflow %s scheduled at %r (%s), %s",
        workflow.pk,
        expression,
        time_zone,
        "enabled" if enabled else "disabled",
    )
    return workflow


def clear_schedule(workflow_id) -> Workflow:
    """Delete a workflow's schedule and its beat entry."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        task = workflow.schedule_task
        workflow.schedule_task = None
        workflow.schedule_cron, workflow.schedule_enabled = "", False
        workflow.save(update_fields=[*SCHEDULE_FIELDS, "updated_at"])
        if task is not None:
            crontab_id = task.crontab_id
            task.delete()
            _drop_unused_crontab(crontab_id)
    logger.info("workflow %s schedule removed", workflow.pk)
    return workflow


def pause_schedule(workflow: Workflow) -> None:
    """Stop firing a workflow's schedule, keeping its expression.

    Called inside the transaction that archives the workflow.
    """
    if not workflow.schedule_enabled and workflow.schedule_task_id is None:
        return
    PeriodicTask.objects.filter(pk=workflow.schedule_task_id).update(enabled=False)
    workflow.schedule_enabled = False
    workflow.save(update_fields=["schedule_enabled"])
    logger.info("workflow %s schedule paused", workflow.pk)


def next_fire_times(workflow: Workflow, count: int = 3, now=None) -> list[datetime]:
    """Return when the schedule fires next, in its time zone."""
    if not workflow.schedule_cron or not workflow.schedule_enabled:
        return []
    zone = ZoneInfo(workflow.schedule_timezone)
    start = (now or timezone.now()).astimezone(zone)
    times = croniter(workflow.schedule_cron, start)
    return [times.get_next(datetime) for _ in range(count)]


def run_on_schedule(workflow_id):
    """Start a scheduled run; skip (and log) when it cannot start now."""
    from runs.actions import start_run

    try:
        run = start_run(workflow_id, triggered_by="schedule")
    except Workflow.DoesNotExist:
        logger.warning("scheduled run skipped: workflow %s is gone", workflow_id)
        return None
    except Conflict as refused:
        logger.info(
            "scheduled run of workflow %s skipped: %s", workflow_id, refused.detail
        )
        return None
    return run


def _periodic_task(workflow: Workflow) -> PeriodicTask:
    task = workflow.schedule_task or PeriodicTask(
        name=f"kubeorch workflow {workflow.pk} schedule"
    )
    task.task = SCHEDULE_TASK
    task.args = json.dumps([str(workflow.pk)])
    task.expire_seconds = SCHEDULE_EXPIRES_SECONDS
    task.description = f"Scheduled run of workflow {workflow.name} ({workflow.pk})"
    return task


def _crontab(expression: str, time_zone: str) -> CrontabSchedule:
    minute, hour, day_of_month, month, day_of_week = expression.split(" ")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        timezone=ZoneInfo(time_zone),
    )
    return schedule


def _drop_unused_crontab(crontab_id) -> None:
    if crontab_id is None:
        return
    if not PeriodicTask.objects.filter(crontab_id=crontab_id).exists():
        CrontabSchedule.objects.filter(pk=crontab_id).delete()


# Webhook -----------------------------------------------------------------------


def create_webhook(workflow_id) -> tuple[Workflow, str]:
    """Give a workflow a new webhook secret (replacing any); return it once."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        # Two rotations at once: the last to commit holds the valid secret.
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        rotated = workflow.has_webhook()
        workflow.webhook_secret_hash = _digest(secret)
        workflow.webhook_rotated_at = timezone.now()
        workflow.save(
            update_fields=["webhook_secret_hash", "webhook_rotated_at", "updated_at"]
        )
    logger.info(
        "workflow %s webhook %s", workflow.pk, "rotated" if rotated else "created"
    )
    return workflow, secret


def disable_webhook(workflow_id) -> Workflow:
    """Forget a workflow's webhook secret: every call is refused after this."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        workflow.webhook_secret_hash = ""
        workflow.webhook_rotated_at = timezone.now()
        workflow.save(
            update_fields=["webhook_secret_hash", "webhook_rotated_at", "updated_at"]
        )
    logger.info("workflow %s webhook disabled", workflow.pk)
    return workflow


def run_from_webhook(workflow_id, secret: str, payload: dict):
    """Start a run for a webhook call with the right secret, or refuse.

    Raises WebhookRefused for an unknown workflow, no webhook or a wrong
    secret alike, and Conflict when the workflow cannot run now.
    """
    from runs.actions import start_run

    stored = (
        Workflow.objects.filter(pk=workflow_id)
        .values_list("webhook_secret_hash", flat=True)
        .first()
    )
    # Compared even when nothing is stored, so timing tells nothing either.
    matches = hmac.compare_digest(_digest(secret or ""), stored or _digest(""))
    if not (stored and matches):
        logger.info("webhook call for workflow %s refused", workflow_id)
        raise WebhookRefused()
    return start_run(workflow_id, triggered_by="webhook", trigger_data=payload)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
