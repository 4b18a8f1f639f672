"""Workflows (the canvas of an application) and their numbered versions."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class WorkflowQuerySet(models.QuerySet):
    def accessible_to(self, user) -> "WorkflowQuerySet":
        """Workflows a user owns or was given."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(owner=user) | Q(shared_with=user)).distinct()


class Workflow(models.Model):
    class State(models.TextChoices):
        # Being designed; the only state in which the canvas can change.
        DRAFT = "draft", "Draft"
        # Frozen and ready to run.
        PUBLISHED = "published", "Published"
        # Kept for reference; its cluster objects are removed.
        ARCHIVED = "archived", "Archived"

    class Cleanup(models.TextChoices):
        # Nothing was asked of the cluster.
        NONE = "none", "None"
        # Archived; a worker is removing its cluster objects.
        PENDING = "pending", "Pending"
        # Every object it owned in its cluster was removed.
        DONE = "done", "Done"
        # The removal stopped (cluster unreachable, refused); archive again.
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        State.DRAFT: {State.PUBLISHED, State.ARCHIVED},
        State.PUBLISHED: {State.DRAFT, State.ARCHIVED},
        State.ARCHIVED: {State.DRAFT},
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    cluster = models.ForeignKey(
        "clusters.Cluster", on_delete=models.PROTECT, related_name="workflows"
    )
    namespace = models.CharField(max_length=63, default="default")
    tags = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows"
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_workflows"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)

    nodes = models.JSONField(default=list, blank=True)
    edges = models.JSONField(default=list, blank=True)
    # Bumped on every save of the canvas; a save based on an older revision
    # is refused so two editors never overwrite each other.
    revision = models.PositiveIntegerField(default=0)

    run_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Triggers: a cron schedule run by Celery beat (through the PeriodicTask
    # kept in step by workflows.triggers), and a webhook whose secret is
    # stored only as its SHA-256 hex digest.
    schedule_cron = models.CharField(max_length=100, blank=True)
    schedule_timezone = models.CharField(max_length=63, default="UTC")
    schedule_enabled = models.BooleanField(default=False)
    schedule_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    webhook_secret_hash = models.CharField(max_length=64, blank=True)
    webhook_rotated_at = models.DateTimeField(null=True, blank=True)

    # Removal of the workflow's cluster objects after it was archived.
    cleanup_state = models.CharField(
        max_length=10, choices=Cleanup.choices, default=Cleanup.NONE
    )
    cleanup_message = models.TextField(blank=True)
    cleanup_requested_at = models.DateTimeField(null=True, blank=True)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "state"])]

    def __str__(self) -> str:
        return self.name

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS[self.State(self.state)]

    def is_editable(self) -> bool:
        return self.state == self.State.DRAFT

    def is_owned_by(self, user) -> bool:
        return user.is_authenticated and self.owner_id == user.pk

    def has_webhook(self) -> bool:
        return bool(self.webhook_secret_hash)


class WorkflowVersion(models.Model):
    class Source(models.TextChoices):
        RUN = "run", "Run"
        MANUAL = "manual", "Manual"
        RESTORE = "restore", "Restore"

    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    nodes = models.JSONField(default=list)
    edges = models.JSONField(default=list)
    name = models.CharField(max_length=100, blank=True)
    tag = models.CharField(max_length=50, blank=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    restored_from = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="version_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"
