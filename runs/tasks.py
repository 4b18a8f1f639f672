"""Celery tasks of runs. They take ids and call `runs.actions`."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

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
