"""Every change to a workflow goes through these functions.

The API views, the pages, the tasks and the admin call them, so locking, state
rules and sealing of secret values live in one place.
"""

import logging

from django.db import transaction
from django.db.models import Max

from kubeorch import crypto
from kubeorch.api import Conflict

from . import canvas, secrets
from .models import Workflow, WorkflowVersion

logger = logging.getLogger(__name__)


def create_workflow(owner, *, name, cluster, description="", namespace="default",
                    tags=()) -> Workflow:
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
        if base_revision is not None and base_revision != workflow.revision:
            raise Conflict(
                f"This workflow was saved by someone else (revision "
                f"{workflow.revision}, your edit is based on {base_revision}). "
                "Reload it, or save again based on the current revision."
            )
        nodes, edges = canvas.normalize_canvas(
            nodes, edges, namespace=workflow.namespace
        )
        nodes = secrets.seal_canvas(nodes, workflow.nodes, crypto.seal)
        workflow.nodes, workflow.edges = nodes, edges
        workflow.revision += 1
        workflow.save(update_fields=["nodes", "edges", "revision", "updated_at"])
    logger.info(
        "workflow %s saved: revision %s, %s nodes, %s edges",
        workflow.pk, workflow.revision, len(nodes), len(edges),
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
    """Move a workflow to another state of its life cycle, or refuse with 409."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
        if workflow.state == to_state:
            return workflow
        if not workflow.can_move_to(to_state):
            raise Conflict(
                f"A {workflow.state} workflow cannot be moved to {to_state}; "
                f"allowed: {_allowed_moves(workflow)}."
            )
        if to_state == Workflow.State.PUBLISHED:
            _check_publishable(workflow)
        previous, workflow.state = workflow.state, to_state
        workflow.save(update_fields=["state", "updated_at"])
    logger.info("workflow %s moved from %s to %s", workflow.pk, previous, to_state)
    return workflow


def snapshot_version(workflow: Workflow, *, source: str, user=None, name="",
                     tag="", description="", restored_from=None) -> WorkflowVersion:
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
    logger.info("workflow %s version %s created (%s)", workflow.pk, version.number, source)
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


def _check_publishable(workflow: Workflow) -> None:
    if not workflow.nodes:
        raise Conflict("An empty workflow cannot be published; add nodes first.")


def _allowed_moves(workflow: Workflow) -> str:
    moves = sorted(workflow.TRANSITIONS[Workflow.State(workflow.state)])
    return ", ".join(moves) or "none"
