"""Celery tasks of runs. They take ids and call `runs.actions`."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from workflows import actions as workflow_actions
from workflows import triggers

from . import actions
from .models import Run

logger = logging.getLogger(__name__)


@shared_task(
    soft_time_limit=settings.KUBEORCH_RUN_TIME_LIMIT,
    time_limit=settings.KUBEORCH_RUN_TIME_LIMIT + 60,
)
def execute_run_task(run_id: str) -> None:
    """Deploy one run; safe to deliver twice (the second delivery settles it)."""
    try:
        actions.execute_run(run_id)
    except SoftTimeLimitExceeded:
        actions.finish_run(
            run_id,
            Run.Status.FAILED,
            f"The run took longer than {settings.KUBEORCH_RUN_TIME_LIMIT} s.",
        )


@shared_task(soft_time_limit=60, time_limit=90)
def fail_abandoned_runs_task() -> int:
    """Finish runs whose worker died, so none is left running."""
    finished = actions.fail_abandoned_runs()
    if finished:
        logger.warning("finished %s abandoned runs as failed", len(finished))
    return len(finished)


@shared_task(soft_time_limit=300, time_limit=330)
def remove_workflow_objects_task(workflow_id: str) -> int:
    """Delete an archived workflow's cluster objects; safe to run twice."""
    try:
        removed = workflow_actions.remove_cluster_objects(workflow_id)
    except SoftTimeLimitExceeded:
        workflow_actions.fail_cleanup(
            workflow_id, "The removal took longer than 300 s."
        )
        return 0
    return len(removed)


@shared_task(soft_time_limit=60, time_limit=90)
def scheduled_run_task(workflow_id: str) -> str | None:
    """Start a scheduled run (Celery beat fires it); skip one already running."""
    run = triggers.run_on_schedule(workflow_id)
    return str(run.pk) if run else None
