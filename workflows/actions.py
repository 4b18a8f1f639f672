"""Every change to a workflow goes through these functions.

The API views, the pages, the tasks and the admin call them, so locking, state
rules and sealing of secret values live in one place.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clusters.connection import connect
from kubeorch import crypto
from kubeorch.api import Conflict
from runs import engine
from runs.kube import KubeError
from runs.models import Run

from . import canvas, secrets, triggers
from .models import Workflow, WorkflowVersion

logger = logging.getLogger(__name__)

# A removal still pending after this long lost its worker: restoring the
# workflow is allowed again (the task's hard limit is far below it).
CLEANUP_STALE_AFTER = timedelta(minutes=15)


def create_workflow(
    owner, *, name, cluster, description="", namespace="default", tags=()
) -> Workflow:
    """Create an empty draft workflow targeting a cluster."""
    workflow = Workflow.objects.create(
        owner=owner,
        name=name,
        cluster=cluster,
        description=description,
        namespace=namespace,
        tags=list(tags),
    )
    logger.info("workflow %s created by %s", workflow.pk, owner)
    return workflow


def save_canvas(workflow_id, *, nodes, edges, base_revision: int | None) -> Workflow:
    """Validate and store a canvas; refuse a stale revision or a frozen state.

    Raises `canvas.CanvasInvalid` (nothing stored) or `Conflict`.
    """
    with transaction.atomic():
        # Two editors saving at once: the row lock orders them, and the
        # revision check refuses the one based on an older canvas.
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        _check_editable(workflow)
        _check_revision(workflow, base_revision)
        nodes, edges = canvas.normalize_canvas(
            nodes, edges, namespace=workflow.namespace
        )
        nodes = secrets.seal_canvas(nodes, workflow.nodes, crypto.seal)
        workflow.nodes, workflow.edges = nodes, edges
        workflow.revision += 1
        workflow.save(update_fields=["nodes", "edges", "revision", "updated_at"])
    logger.info(
        "workflow %s saved: revision %s, %s nodes, %s edges",
        workflow.pk,
        workflow.revision,
        len(nodes),
        len(edges),
    )
    return workflow


def update_details(workflow: Workflow, **changes) -> Workflow:
    """Change a workflow's name, description, tags, namespace or cluster."""
    if ("cluster" in changes or "namespace" in changes) and not workflow.is_editable():
        _check_editable(workflow)
    for field, value in changes.items():
        setattr(workflow, field, value)
    workflow.save(update_fields=[*changes, "updated_at"])
    logger.info("workflow %s details changed: %s", workflow.pk, ", ".join(changes))
    return workflow


def move_workflow(workflow_id, to_state: str) -> Workflow:
    """Move a workflow to another state of its life cycle, or refuse with 409.

    Archiving pauses the schedule and, once committed, removes every object
    the workflow owns in its cluster (a Celery task); archiving again after
    a failed removal retries it. Restoring (archived to draft) waits for a
    removal in progress, so a new run never races it.
    """
    with transaction.atomic():
        # A run starting at once locks the same row: it sees the new state.
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        if workflow.state == to_state:
            # Archiving again is how a failed clean-up is retried; any
            # other "move" to the current state is not in the table.
            if not _cleanup_needs_retry(workflow, to_state):
                raise Conflict(f"This workflow is already {to_state}.")
            _start_cleanup(workflow)
            return workflow
        _check_move(workflow, to_state)
        previous, workflow.state = workflow.state, to_state
        workflow.save(update_fields=["state", "updated_at"])
        if to_state == Workflow.State.ARCHIVED:
            triggers.pause_schedule(workflow)
            _start_cleanup(workflow)
    logger.info("workflow %s moved from %s to %s", workflow.pk, previous, to_state)
    return workflow


def _check_move(workflow: Workflow, to_state: str) -> None:
    """Refuse a move the state table does not allow, or not allowed now."""
    if not workflow.can_move_to(to_state):
        raise Conflict(
            f"This workflow is {workflow.state} and cannot be moved to "
            f"{to_state}; allowed: {_allowed_moves(workflow)}."
        )
    if to_state == Workflow.State.PUBLISHED:
        _check_publishable(workflow)
    if to_state == Workflow.State.ARCHIVED:
        running = workflow.runs.filter(status=Run.Status.RUNNING).first()
        if running:
            raise Conflict(
                f"Run {running.pk} of this workflow is in progress; cancel it or "
                "wait for it to finish before archiving."
            )
    if workflow.state == Workflow.State.ARCHIVED and _cleanup_in_progress(workflow):
        raise Conflict(
            "This workflow's cluster objects are still being removed; restore it "
            "once that is done."
        )


def _cleanup_in_progress(workflow: Workflow) -> bool:
    if workflow.cleanup_state != Workflow.Cleanup.PENDING:
        return False
    asked = workflow.cleanup_requested_at
    return asked is not None and timezone.now() - asked < CLEANUP_STALE_AFTER


def _cleanup_needs_retry(workflow: Workflow, to_state: str) -> bool:
    return to_state == Workflow.State.ARCHIVED and (
        workflow.cleanup_state == Workflow.Cleanup.FAILED
        or (
            workflow.cleanup_state == Workflow.Cleanup.PENDING
            and not _cleanup_in_progress(workflow)
        )
    )


def _start_cleanup(workflow: Workflow) -> None:
    """Mark the removal pending and enqueue it once the transaction commits.

    A workflow that never ran has nothing in its cluster: done at once.
    """
    deployed = workflow.runs.exists()
    workflow.cleanup_state = (
        Workflow.Cleanup.PENDING if deployed else Workflow.Cleanup.DONE
    )
    workflow.cleanup_message = "" if deployed else "Never deployed: nothing to remove."
    workflow.cleanup_requested_at = timezone.now()
    workflow.save(
        update_fields=["cleanup_state", "cleanup_message", "cleanup_requested_at"]
    )
    if deployed:
        workflow_id = str(workflow.pk)
        transaction.on_commit(lambda: _enqueue_cleanup(workflow_id))


def _enqueue_cleanup(workflow_id: str) -> None:
    from runs.tasks import remove_workflow_objects_task

    remove_workflow_objects_task.delay(workflow_id)


def remove_cluster_objects(workflow_id) -> list[engine.ObjectRef]:
    """Delete every object an archived workflow owns in its cluster.

    Objects are found by the workflow's ownership label, never by name, in
    every built-in kind and every custom kind the workflow ever deployed.
    A StatefulSet's data claims are kept, as Kubernetes keeps them. Called
    by the Celery task; a second call does no harm.
    """
    workflow = Workflow.objects.select_related("cluster").filter(pk=workflow_id).first()
    if workflow is None or workflow.state != Workflow.State.ARCHIVED:
        logger.info("cleanup of workflow %s skipped: not archived", workflow_id)
        return []
    observer = _CleanupObserver()
    options = engine.DeployOptions(
        parallelism=settings.KUBEORCH_APPLY_PARALLELISM,
        request_timeout=settings.KUBEORCH_KUBE_TIMEOUT,
        extra_kinds=tuple(sorted(custom_kinds(workflow))),
    )
    try:
        with connect(workflow.cluster) as api_client:
            removed = engine.remove_all(
                api_client,
                workflow_id=str(workflow.pk),
                observer=observer,
                options=options,
            )
    except (KubeError, ValueError) as error:
        reason = error.describe() if isinstance(error, KubeError) else str(error)
        fail_cleanup(workflow.pk, f"Not removed: {reason}")
        return []
    _record_cleanup(workflow.pk, *observer.outcome(removed))
    return removed


def fail_cleanup(workflow_id, reason: str) -> None:
    """Record that removing an archived workflow's objects stopped."""
    _record_cleanup(workflow_id, Workflow.Cleanup.FAILED, reason)


def custom_kinds(workflow: Workflow) -> set[tuple[str, str]]:
    """Return the (apiVersion, kind) of every custom resource of any version."""
    canvases = [workflow.nodes, *workflow.versions.values_list("nodes", flat=True)]
    kinds = set()
    for nodes in canvases:
        for node in nodes:
            data = node.get("data") or {}
            if node.get("type") == "customresource" and data.get("kind"):
                kinds.add((data.get("apiVersion", ""), data["kind"]))
    return kinds


def _record_cleanup(workflow_id, state: str, message: str) -> None:
    Workflow.objects.filter(pk=workflow_id, state=Workflow.State.ARCHIVED).update(
        cleanup_state=state, cleanup_message=message[:5000]
    )
    log = logger.info if state == Workflow.Cleanup.DONE else logger.warning
    log("cleanup of workflow %s %s: %s", workflow_id, state, message)


class _CleanupObserver:
    """What engine.remove_all reports: warnings are kept for the outcome."""

    def __init__(self):
        self.warnings: list[str] = []

    def node_state(self, node_id, state, message="", health=None) -> None:
        """Nothing to record: a removal has no node states."""

    def log(self, level: str, message: str) -> None:
        if level in ("warning", "error"):
            self.warnings.append(message)

    def should_stop(self) -> bool:
        return False

    def outcome(self, removed: list) -> tuple[str, str]:
        """Return the cleanup state and message after a removal."""
        message = f"Removed {len(removed)} object(s) from the cluster."
        if not self.warnings:
            return Workflow.Cleanup.DONE, message
        problems = "; ".join(self.warnings[:5])
        return Workflow.Cleanup.FAILED, f"{message} Left over: {problems}"


def create_version(
    workflow_id, *, user=None, name="", tag="", description=""
) -> WorkflowVersion:
    """Store the current canvas as a named version (no run)."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        if workflow.state == Workflow.State.ARCHIVED:
            raise Conflict("This workflow is archived; restore it to draft first.")
        version = snapshot_version(
            workflow,
            source=WorkflowVersion.Source.MANUAL,
            user=user,
            name=name,
            tag=tag,
            description=description,
        )
    return version


def restore_version(
    workflow_id,
    number: int,
    *,
    user=None,
    base_revision: int | None = None,
    name="",
    tag="",
    description="",
) -> WorkflowVersion:
    """Copy an old version forward as a new version and load it on the canvas.

    Only a draft can be restored into (like a save); history is never
    deleted. Raises WorkflowVersion.DoesNotExist, Conflict or CanvasInvalid
    (the old canvas no longer validates; nothing is stored).
    """
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        _check_editable(workflow)
        _check_revision(workflow, base_revision)
        source = workflow.versions.get(number=number)
        nodes, edges = canvas.normalize_canvas(
            source.nodes, source.edges, namespace=workflow.namespace
        )
        nodes = secrets.seal_canvas(nodes, source.nodes, crypto.seal)
        workflow.nodes, workflow.edges = nodes, edges
        workflow.revision += 1
        workflow.save(update_fields=["nodes", "edges", "revision", "updated_at"])
        version = snapshot_version(
            workflow,
            source=WorkflowVersion.Source.RESTORE,
            user=user,
            name=name or f"Restored from version {number}",
            tag=tag,
            description=description,
            restored_from=number,
        )
    logger.info(
        "workflow %s restored version %s as version %s (revision %s)",
        workflow.pk,
        number,
        version.number,
        workflow.revision,
    )
    return version


def snapshot_version(
    workflow: Workflow,
    *,
    source: str,
    user=None,
    name="",
    tag="",
    description="",
    restored_from=None,
) -> WorkflowVersion:
    """Store the workflow's current canvas as its next numbered version.

    Call inside a transaction that holds the workflow's row lock, so two
    snapshots never take the same number.
    """
    last = workflow.versions.aggregate(last=Max("number"))["last"] or 0
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=last + 1,
        nodes=workflow.nodes,
        edges=workflow.edges,
        source=source,
        created_by=user,
        name=name,
        tag=tag,
        description=description,
        restored_from=restored_from,
    )
    logger.info(
        "workflow %s version %s created (%s)", workflow.pk, version.number, source
    )
    return version


def reseal_secret_values() -> int:
    """Re-seal every stored secret value with the current primary key."""
    count = 0
    for workflow in Workflow.objects.iterator():
        workflow.nodes = secrets.reseal_canvas(workflow.nodes, crypto.reseal)
        workflow.save(update_fields=["nodes"])
        count += 1
        for version in workflow.versions.all():
            version.nodes = secrets.reseal_canvas(version.nodes, crypto.reseal)
            version.save(update_fields=["nodes"])
    logger.info("re-sealed secret values of %s workflows", count)
    return count


def _check_editable(workflow: Workflow) -> None:
    if not workflow.is_editable():
        raise Conflict(
            f"This workflow is {workflow.state}; only a draft can be edited. "
            "Move it back to draft first."
        )


def _check_revision(workflow: Workflow, base_revision: int | None) -> None:
    if base_revision is not None and base_revision != workflow.revision:
        raise Conflict(
            f"This workflow was saved by someone else (revision "
            f"{workflow.revision}, your edit is based on {base_revision}). "
            "Reload it, or save again based on the current revision."
        )


def _check_publishable(workflow: Workflow) -> None:
    if not workflow.nodes:
        raise Conflict("An empty workflow cannot be published; add nodes first.")


def _allowed_moves(workflow: Workflow) -> str:
    moves = sorted(workflow.TRANSITIONS[Workflow.State(workflow.state)])
    return ", ".join(moves) or "none"
