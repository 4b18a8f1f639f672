"""Runs: one deployment of a workflow version, its node states and log."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Run(models.Model):
    class Status(models.TextChoices):
        # Accepted and being worked on by a Celery worker.
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        WEBHOOK = "webhook", "Webhook"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="runs"
    )
    version = models.ForeignKey(
        "workflows.WorkflowVersion", on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    triggered_by = models.CharField(
        max_length=10, choices=Trigger.choices, default=Trigger.MANUAL
    )
    triggered_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    trigger_data = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True)
    summary = models.TextField(blank=True)
    # Set by the worker while it works; a running run whose heartbeat is old
    # belongs to a dead worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_started = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow"],
                condition=Q(status="running"),
                name="one_running_run_per_workflow",
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.workflow} run {self.id}"

    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def can_cancel(self) -> bool:
        return self.status == self.Status.RUNNING


class RunNodeState(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        PROGRESSING = "progressing", "Progressing"
        HEALTHY = "healthy", "Healthy"
        DEGRADED = "degraded", "Degraded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="node_states")
    node_id = models.CharField(max_length=63)
    kind = models.CharField(max_length=30)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    message = models.TextField(blank=True)
    health = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "node_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "node_id"], name="one_state_per_run_node"
            )
        ]

    def __str__(self) -> str:
        return f"{self.node_id}: {self.state}"


class RunLogLine(models.Model):
    class Level(models.TextChoices):
        DEBUG = "debug", "Debug"
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    node_id = models.CharField(max_length=63, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return self.message
