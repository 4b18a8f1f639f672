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
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.PENDING
    )
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


class NodeStatus(models.Model):
    """The live health of one deployed workflow node, kept by the watcher."""

    class State(models.TextChoices):
        # Green: doing what it was asked to do.
        HEALTHY = "healthy", "Healthy"
        # Grey-blue: paused or suspended on purpose.
        SUSPENDED = "suspended", "Suspended"
        # Yellow: on its way, or partially ready ("2/3 ready").
        PROGRESSING = "progressing", "Progressing"
        # Grey: applied, but not found in the cluster.
        MISSING = "missing", "Missing"
        # Red: failing and needs a change.
        DEGRADED = "degraded", "Degraded"
        # Grey: cannot tell (cluster unreachable, kind not listable).
        UNKNOWN = "unknown", "Unknown"

    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="node_statuses"
    )
    node_id = models.CharField(max_length=63)
    kind = models.CharField(max_length=30, blank=True)
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.UNKNOWN
    )
    message = models.TextField(blank=True)
    ready = models.IntegerField(null=True, blank=True)
    desired = models.IntegerField(null=True, blank=True)
    # Health.as_dict(): state, message, counts, warnings, evidence.
    health = models.JSONField(default=dict, blank=True)
    # When the watcher first saw this health.
    observed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workflow", "node_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "node_id"], name="one_status_per_workflow_node"
            )
        ]

    def __str__(self) -> str:
        return f"{self.node_id}: {self.state}"


class TerminalSession(models.Model):
    """One terminal opened into a container: who, when, where (an audit row)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="terminal_sessions",
    )
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="terminal_sessions"
    )
    node_id = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63)
    pod = models.CharField(max_length=253)
    container = models.CharField(max_length=63)
    command = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The command's exit code when the shell ended by itself.
    exit_code = models.IntegerField(null=True, blank=True)
    # Why it ended: "exited", "closed" (the page went), "error: ...".
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["workflow", "started_at"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.pod}/{self.container} at {self.started_at}"

    def is_open(self) -> bool:
        return self.ended_at is None
