"""Starting, executing, cancelling and finishing runs.

A run is created by `start_run` in the request that asks for it (with its
version snapshot, so the answer carries both ids), then executed by a Celery
worker through `execute_run`. Every end of a run goes through `finish_run`.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from clusters.connection import connect
from clusters.models import Cluster
from kubeorch import crypto
from kubeorch.api import Conflict
from workflows import actions as workflow_actions
from workflows.lint import lint_canvas
from workflows.models import Workflow, WorkflowVersion
from workflows.ordering import apply_levels, dependencies
from workflows.render import render_canvas

from . import engine, live
from .models import Run, RunLogLine, RunNodeState

logger = logging.getLogger(__name__)


class RunRefused(Exception):
    """The run stops before anything is applied; the message says why."""


def start_run(workflow_id, *, triggered_by: str, user=None, trigger_data=None) -> Run:
    """Snapshot the workflow as a new version and queue a run of it."""
    try:
        with transaction.atomic():
            workflow = Workflow.objects.select_for_update().get(pk=workflow_id)
            _check_runnable(workflow)
            version = workflow_actions.snapshot_version(
                workflow, source=WorkflowVersion.Source.RUN, user=user
            )
            run = Run.objects.create(
                workflow=workflow,
                version=version,
                triggered_by=triggered_by,
                triggered_by_user=user,
                trigger_data=trigger_data or {},
            )
            _create_pending_node_states(run, version)
            Workflow.objects.filter(pk=workflow.pk).update(
                run_count=F("run_count") + 1, last_run_at=run.started_at
            )
            transaction.on_commit(lambda: _enqueue(run.pk))
            transaction.on_commit(lambda: _publish_status(run.pk))
    except IntegrityError:
        # The partial unique index caught a run started concurrently.
        raise Conflict("A run of this workflow is already in progress.") from None
    logger.info(
        "run %s of workflow %s queued (version %s, %s)",
        run.pk,
        workflow.pk,
        version.number,
        triggered_by,
    )
    return run


def check_no_run_in_progress(workflow: Workflow) -> None:
    running = workflow.runs.filter(status=Run.Status.RUNNING).first()
    if running:
        raise Conflict(f"Run {running.pk} of this workflow is in progress.")


def request_cancel(run: Run) -> Run:
    """Ask the worker to stop applying; a queued run is cancelled at once."""
    if not run.can_cancel():
        raise Conflict(
            f"This run is {run.status}; only a running run can be cancelled."
        )
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.refresh_from_db()
    if not run.worker_started:
        finish_run(
            run.pk, Run.Status.CANCELLED, "Cancelled before a worker started it."
        )
    logger.info("cancel requested for run %s", run.pk)
    run.refresh_from_db()
    return run


def execute_run(run_id) -> None:
    """Deploy a run's version to its cluster; called by the Celery task."""
    run = _claim(run_id)
    if run is None:
        return
    recorder = RunRecorder(run)
    try:
        status, summary = _deploy(run, recorder)
    except RunRefused as refused:
        status, summary = Run.Status.FAILED, str(refused)
        recorder.log("error", summary)
    except Exception as exc:
        logger.exception("run %s failed unexpectedly", run.pk)
        status, summary = Run.Status.FAILED, f"Internal error: {exc}"
        recorder.log("error", summary)
    recorder.flush()
    finish_run(run.pk, status, summary)


def finish_run(run_id, status: str, summary: str) -> Run | None:
    """Record a run's end once; later calls for a finished run change nothing."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished():
            return run
        run.status = status
        run.summary = summary[:10_000]
        run.completed_at = timezone.now()
        run.duration_ms = int(
            (run.completed_at - run.started_at).total_seconds() * 1000
        )
        run.save(update_fields=["status", "summary", "completed_at", "duration_ms"])
        _count_outcome(run)
        transaction.on_commit(lambda: _publish_status(run.pk))
    logger.info(
        "run %s finished %s in %s ms: %s", run.pk, status, run.duration_ms, summary
    )
    return run


def fail_abandoned_runs(now=None) -> list:
    """Finish as failed every running run whose worker stopped reporting."""
    now = now or timezone.now()
    silent_since = now - timedelta(seconds=settings.KUBEORCH_RUN_HEARTBEAT_TIMEOUT)
    queued_since = now - timedelta(seconds=settings.KUBEORCH_RUN_QUEUE_TIMEOUT)
    abandoned = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(worker_started=True, heartbeat_at__lt=silent_since)
        | Q(worker_started=False, started_at__lt=queued_since)
    )
    finished = []
    for run in abandoned:
        reason = (
            f"The worker running it stopped reporting for more than "
            f"{settings.KUBEORCH_RUN_HEARTBEAT_TIMEOUT:.0f} s (it probably died). "
            "Objects applied so far are left as they are; run again to finish."
            if run.worker_started
            else "No worker picked it up within "
            f"{settings.KUBEORCH_RUN_QUEUE_TIMEOUT:.0f} s."
        )
        finish_run(run.pk, Run.Status.FAILED, reason)
        finished.append(run.pk)
    return finished


def _check_runnable(workflow: Workflow) -> None:
    if workflow.state == Workflow.State.DRAFT:
        raise Conflict("This workflow is a draft; publish it before running it.")
    if workflow.state == Workflow.State.ARCHIVED:
        raise Conflict("This workflow is archived; restore it to draft first.")
    # Checked at every run, not only when the workflow was created: the
    # cluster may have been unshared since.
    if (
        not Cluster.objects.usable_by(workflow.owner)
        .filter(pk=workflow.cluster_id)
        .exists()
    ):
        raise PermissionDenied(
            "The workflow's owner may no longer use its cluster; "
            "choose another cluster for it."
        )
    check_no_run_in_progress(workflow)


def _create_pending_node_states(run: Run, version: WorkflowVersion) -> None:
    RunNodeState.objects.bulk_create(
        RunNodeState(run=run, node_id=node["id"], kind=node["type"])
        for node in version.nodes
    )


def _enqueue(run_id) -> None:
    from .tasks import execute_run_task

    execute_run_task.delay(str(run_id))


def _claim(run_id) -> Run | None:
    """Mark a run as taken by this worker, or settle it if it cannot run.

    A message redelivered after its worker died finds `worker_started` set:
    that run's state on the cluster is unknown, so it is failed rather than
    applied a second time behind the user's back.
    """
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .select_related("workflow__cluster", "version")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.is_finished():
            return None
        if run.worker_started:
            outcome = (
                "The worker running it died; run it again to finish the deployment."
            )
        elif run.cancel_requested:
            outcome = "Cancelled before a worker started it."
        else:
            run.worker_started = True
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["worker_started", "heartbeat_at"])
            return run
    status = Run.Status.CANCELLED if run.cancel_requested else Run.Status.FAILED
    finish_run(run.pk, status, outcome)
    return None


def _deploy(run: Run, recorder: "RunRecorder") -> tuple[str, str]:
    workflow, version = run.workflow, run.version
    recorder.log("info", f"Deploying version {version.number} to {workflow.cluster}.")
    rendered, levels, depends_on = _prepare(run, recorder)
    options = engine.DeployOptions(
        health_deadline=settings.KUBEORCH_HEALTH_DEADLINE,
        parallelism=settings.KUBEORCH_APPLY_PARALLELISM,
        request_timeout=settings.KUBEORCH_KUBE_TIMEOUT,
        extra_kinds=_custom_kinds_ever_applied(workflow),
        settle_for=settings.KUBEORCH_HEALTH_SETTLE_SECONDS,
    )
    with connect(workflow.cluster) as api_client:
        result = engine.deploy(
            api_client,
            workflow_id=str(workflow.pk),
            rendered=rendered,
            levels=levels,
            observer=recorder,
            options=options,
            depends_on=depends_on,
        )
    return result.status, result.message


def _prepare(run: Run, recorder: "RunRecorder"):
    """Render and lint the version; lint errors refuse the run."""
    nodes, edges = run.version.nodes, run.version.edges
    findings = lint_canvas(nodes, edges, namespace=run.workflow.namespace)
    for finding in findings:
        where = f"{finding.node_id}: " if finding.node_id else ""
        recorder.log(finding.level, where + finding.message, finding.node_id)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        for finding in errors:
            if finding.node_id:
                recorder.node_state(finding.node_id, "failed", finding.message)
        first = errors[0]
        raise RunRefused(
            f"Stopped before applying anything: {len(errors)} problem(s) in the "
            f"workflow, first: {first.node_id or 'canvas'}: {first.message}"
        )
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=str(run.workflow.pk),
        namespace=run.workflow.namespace,
        reveal=crypto.unseal,
    )
    return rendered, apply_levels(nodes, edges), dependencies(nodes, edges)


def _custom_kinds_ever_applied(workflow: Workflow) -> tuple[tuple[str, str], ...]:
    """Custom-resource kinds of every version, so prune can find removed ones."""
    kinds = set()
    for nodes in workflow.versions.values_list("nodes", flat=True):
        for node in nodes:
            data = node.get("data") or {}
            if node.get("type") == "customresource" and data.get("kind"):
                kinds.add((data.get("apiVersion", ""), data["kind"]))
    return tuple(sorted(kinds))


def _publish_status(run_id) -> None:
    """Tell the workflow's live views that a run started or ended."""
    run = Run.objects.select_related("version").get(pk=run_id)
    live.publish(run.workflow_id, [(live.RUN_STATUS, live.run_status_data(run))])


def _count_outcome(run: Run) -> None:
    counter = "success_count" if run.status == Run.Status.COMPLETED else "failure_count"
    Workflow.objects.filter(pk=run.workflow_id).update(**{counter: F(counter) + 1})


class RunRecorder:
    """The engine's observer: records node states and log lines of one run.

    The engine calls it from its apply threads too; those calls are queued and
    written by the thread that created the recorder, so database connections
    stay in one thread.
    """

    HEARTBEAT_EVERY = 2.0
    CANCEL_CHECK_EVERY = 0.5

    def __init__(self, run: Run):
        self.run = run
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._pending_states: dict[str, tuple[str, str, dict]] = {}
        self._pending_lines: list[RunLogLine] = []
        self._last_heartbeat = 0.0
        self._last_cancel_check = 0.0
        self._cancelled = False

    def node_state(
        self, node_id: str, state: str, message: str = "", health=None
    ) -> None:
        with self._lock:
            self._pending_states[node_id] = (state, message, _health_dict(health))
        self._flush_if_owner()

    def log(self, level: str, message: str, node_id: str = "") -> None:
        line = RunLogLine(
            run=self.run, level=_level(level), message=message, node_id=node_id
        )
        with self._lock:
            self._pending_lines.append(line)
        self._flush_if_owner()

    def should_stop(self) -> bool:
        if threading.get_ident() == self._owner:
            self.flush()
            self._beat()
        return self._cancelled

    def flush(self) -> None:
        with self._lock:
            states, self._pending_states = self._pending_states, {}
            lines, self._pending_lines = self._pending_lines, []
        saved = []
        for node_id, (state, message, health) in states.items():
            row, _ = RunNodeState.objects.update_or_create(
                run=self.run,
                node_id=node_id,
                defaults={"state": state, "message": message[:5000], "health": health},
            )
            saved.append(row)
        if lines:
            RunLogLine.objects.bulk_create(lines)
        self._publish(saved, lines)

    def _publish(self, states: list[RunNodeState], lines: list[RunLogLine]) -> None:
        """Stream what was just written to the workflow's live group."""
        # Imported here: the recorder is the only part of this module that streams.
        from . import live

        workflow_id, run_id = self.run.workflow_id, self.run.pk
        events = [
            (live.RUN_NODE, live.run_node_data(workflow_id, run_id, state))
            for state in states
        ]
        events += [
            (live.RUN_LOG, live.run_log_data(workflow_id, line)) for line in lines
        ]
        if events:
            live.publish(workflow_id, events)

    def _flush_if_owner(self) -> None:
        if threading.get_ident() == self._owner:
            self.flush()

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat >= self.HEARTBEAT_EVERY:
            Run.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now())
            self._last_heartbeat = now
        if now - self._last_cancel_check >= self.CANCEL_CHECK_EVERY:
            self._cancelled = Run.objects.filter(
                pk=self.run.pk, cancel_requested=True
            ).exists()
            self._last_cancel_check = now


def _health_dict(health) -> dict:
    return {} if health is None else health.as_dict()


def _level(level: str) -> str:
    level = (level or "info").lower()
    return level if level in RunLogLine.Level.values else RunLogLine.Level.INFO
