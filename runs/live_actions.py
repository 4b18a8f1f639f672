"""Reaching a deployed node: its pods and logs, a terminal, a diagnosis, a fix.

Every entry point starts from `node_target_for_user`, which is the one place
deciding who may reach what: the workflow must be one the user may access,
and the node must be part of its deployed (or current) canvas. Pods are
then found in the workflow's own cluster and the node's namespace by the
ownership labels (`runs.logs.find_pod`), never by a name alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from clusters.connection import connect
from kubeorch import crypto
from kubeorch.api import Conflict
from workflows import actions as workflow_actions
from workflows.access import workflow_for_user
from workflows.kinds import get_kind
from workflows.kinds.fields import sensitive_values
from workflows.lint import lint_canvas
from workflows.models import Workflow
from workflows.render import render_canvas
from workflows.secrets import is_sealed, reveal_masked
from workflows.versions import compare_canvases

from . import logs
from .diagnosis import ClusterFacts, Diagnosis, NodeFacts, diagnose
from .engine import WORKFLOW_LABEL
from .health import (
    INGRESS_GRACE_SECONDS,
    Health,
    HealthState,
    SnapshotView,
    assess_node,
)
from .kube import Discovery, KubeClient, KubeError
from .models import Run, TerminalSession

logger = logging.getLogger(__name__)

POD_KINDS = ("deployment", "statefulset", "daemonset", "job", "cronjob")


class FixRefused(Exception):
    """The fix cannot be applied (not offered any more, workflow archived)."""


@dataclass
class NodeTarget:
    """A node of a workflow the user may reach, on the canvas that was deployed."""

    workflow: Workflow
    node: dict
    nodes: list[dict]
    edges: list[dict]

    @property
    def node_id(self) -> str:
        """Return the canvas id of the node."""
        return self.node["id"]

    @property
    def namespace(self) -> str:
        """Return the namespace the node's objects live in."""
        return (self.node.get("data") or {}).get("namespace") or self.workflow.namespace

    @property
    def workflow_id(self) -> str:
        """Return the workflow's id as the ownership label has it."""
        return str(self.workflow.pk)

    @property
    def has_pods(self) -> bool:
        """Tell whether the node's kind runs pods."""
        return self.node.get("type") in POD_KINDS


def node_target_for_user(user, workflow_id, node_id: str) -> NodeTarget:
    """Return a node of a workflow the user may reach, or raise Http404."""
    workflow = workflow_for_user(user, workflow_id)
    nodes, edges = deployed_canvas(workflow)
    node = _node(nodes, node_id) or _node(workflow.nodes, node_id)
    if node is None:
        raise Http404("No such node in this workflow.")
    if _node(nodes, node_id) is None:
        nodes, edges = workflow.nodes, workflow.edges
    return NodeTarget(workflow, node, nodes, edges)


def deployed_canvas(workflow: Workflow) -> tuple[list[dict], list[dict]]:
    """Return the canvas of the latest run's version, else the current one."""
    run = workflow.runs.select_related("version").order_by("-started_at").first()
    if run is None:
        return workflow.nodes, workflow.edges
    return run.version.nodes, run.version.edges


def _node(nodes: list[dict], node_id: str) -> dict | None:
    return next((n for n in nodes if n.get("id") == node_id), None)


# --- Pods and logs -------------------------------------------------------------


def node_pods(target: NodeTarget) -> list[logs.PodInfo]:
    """Return the pods of the node in its cluster (none for kinds without pods)."""
    if not target.has_pods:
        return []
    with connect(target.workflow.cluster) as api_client:
        return logs.list_node_pods(
            api_client, target.namespace, target.workflow_id, target.node_id
        )


def node_pod(target: NodeTarget, api_client, name: str) -> dict:
    """Return one pod of the node, checked on the cluster; raise Http404."""
    try:
        return logs.find_pod(
            api_client, target.namespace, target.workflow_id, target.node_id, name
        )
    except logs.PodNotFound:
        raise Http404("No such pod in this node.") from None


def masker_for(workflow: Workflow) -> logs.Masker:
    """Return a masker knowing every secret value of the workflow's canvases."""
    values = set()
    canvases = [workflow.nodes, *workflow.versions.values_list("nodes", flat=True)]
    for nodes in canvases:
        for node in nodes:
            kind = get_kind(node.get("type"))
            if kind is None or not isinstance(node.get("data"), dict):
                continue
            for item in sensitive_values(kind.fields, node["data"]):
                values.add(_clear(item.value))
    values.discard(None)
    return logs.Masker(values)


def _clear(value) -> str | None:
    if not isinstance(value, str):
        return None
    if not is_sealed(value):
        return value
    try:
        return crypto.unseal(value)
    except crypto.SealError:
        return None


def read_node_logs(target: NodeTarget, options: logs.LogOptions, pod: str | None):
    """Return the node's log lines: one pod's, or every pod's merged."""
    masker = masker_for(target.workflow)
    with connect(target.workflow.cluster) as api_client:
        if pod:
            pods = [node_pod(target, api_client, pod)]
        else:
            names = logs.list_node_pods(
                api_client, target.namespace, target.workflow_id, target.node_id
            )
            pods = [node_pod(target, api_client, p.name) for p in names]
        if len(pods) == 1:
            lines = logs.read_lines(api_client, target.namespace, pods[0], options)
        else:
            lines = logs.read_merged(api_client, target.namespace, pods, options)
    return [masker.line(line) for line in lines], len(pods)


# --- Health and diagnosis ---------------------------------------------------------


def diagnose_node(target: NodeTarget) -> tuple[Health | None, Diagnosis | None]:
    """Read the node live from its cluster and say what is wrong with it."""
    findings = lint_canvas(
        target.nodes, target.edges, namespace=target.workflow.namespace
    )
    masker = masker_for(target.workflow)
    with connect(target.workflow.cluster) as api_client:
        kube = KubeClient(
            api_client, timeout=settings.KUBEORCH_KUBE_TIMEOUT, pool_size=4
        )
        try:
            health, view, cluster = _live_health(target, kube)
            previous = _previous_logs(target, api_client, health, masker)
        except KubeError as error:
            logger.warning(
                "diagnosis of %s could not read the cluster: %s", target.node_id, error
            )
            health, view, cluster, previous = None, None, ClusterFacts(), []
        finally:
            kube.close()
    facts = NodeFacts(
        node=target.node,
        nodes=target.nodes,
        edges=target.edges,
        namespace=target.workflow.namespace,
        health=health,
        findings=findings,
        events=_mask_events(health.evidence.get("events") if health else None, masker),
        previous_logs=previous,
        cluster=cluster,
        last_good_image=_last_good_image(target),
        selected_pod_ports=_selected_ports(target, view),
    )
    return health, diagnose(facts)


def _live_health(target: NodeTarget, kube: KubeClient):
    """Judge the node from one snapshot of what its rules look at."""
    manifests = _node_manifests(target)
    lister = _Lister(kube)
    owned = f"{WORKFLOW_LABEL}={target.workflow_id}"
    namespace = target.namespace
    for manifest in manifests:
        placed = manifest.get("metadata", {}).get("namespace")
        lister.add(manifest["apiVersion"], manifest["kind"], placed, owned)
    # A Service may select pods of other workflows: list them all for it.
    pods_selector = None if target.node.get("type") == "service" else owned
    lister.add("v1", "Pod", namespace, pods_selector)
    lister.add("apps/v1", "ReplicaSet", namespace, owned)
    lister.add("batch/v1", "Job", namespace, owned)
    lister.add("v1", "Service", namespace)
    lister.add("v1", "Event", namespace)
    cluster = ClusterFacts(
        storage_classes=lister.add("storage.k8s.io/v1", "StorageClass"),
        ingress_classes=lister.add("networking.k8s.io/v1", "IngressClass"),
        nodes=lister.add("v1", "Node"),
    )
    view = SnapshotView(lister.objects)
    now = datetime.now(UTC)
    health = assess_node(manifests, view, now, ingress_grace=INGRESS_GRACE_SECONDS)
    return health, view, cluster


def _node_manifests(target: NodeTarget) -> list[dict]:
    """Render the node as it was deployed (secret values stay masked)."""
    rendered = render_canvas(
        target.nodes,
        target.edges,
        workflow_id=target.workflow_id,
        namespace=target.workflow.namespace,
        reveal=reveal_masked,
    )
    return next(r.manifests for r in rendered if r.node_id == target.node_id)


class _Lister:
    """Lists kinds the cluster serves, each (kind, namespace, selector) once."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.discovery = Discovery(kube)
        self.objects: list[dict] = []
        self._listed: set[tuple] = set()

    def add(self, api_version, kind, namespace=None, label_selector=None) -> list:
        """List one kind into the snapshot and return what was listed."""
        key = (api_version, kind, namespace, label_selector)
        if key in self._listed or not self.discovery.serves(api_version, kind):
            return []
        self._listed.add(key)
        items = self.kube.list(
            self.discovery.resolve(api_version, kind),
            namespace,
            label_selector=label_selector,
        )
        self.objects.extend(items)
        return items


def _previous_logs(target: NodeTarget, api_client, health: Health, masker) -> list[str]:
    """Return the last lines the crashed container wrote before it stopped."""
    evidence = health.evidence if health else {}
    restarted = evidence.get("restart_count", 0) > 0 or evidence.get(
        "terminated_reason"
    )
    if not (evidence.get("pod") and evidence.get("container") and restarted):
        return []
    try:
        pod = logs.find_pod(
            api_client,
            target.namespace,
            target.workflow_id,
            target.node_id,
            evidence["pod"],
        )
        options = logs.LogOptions(
            container=evidence["container"], tail_lines=20, previous=True
        )
        lines = logs.read_lines(api_client, target.namespace, pod, options)
    except (logs.PodNotFound, logs.LogsUnavailable) as error:
        logger.info("no previous logs for %s: %s", evidence.get("pod"), error)
        return []
    return [masker(line.text) for line in lines]


def _mask_events(events, masker) -> list[dict]:
    return [{**e, "message": masker(e.get("message") or "")} for e in events or []]


def _selected_ports(target: NodeTarget, view) -> list[int]:
    """Return the container ports of the pods a Service's selector matches."""
    selector = (target.node.get("data") or {}).get("selector")
    if target.node.get("type") != "service" or view is None or not selector:
        return []
    pods = view.pods_matching(target.namespace, selector)
    return sorted(
        {
            port["containerPort"]
            for pod in pods
            for container in pod.get("spec", {}).get("containers") or []
            for port in container.get("ports") or []
            if "containerPort" in port
        }
    )


def _last_good_image(target: NodeTarget) -> str | None:
    """Return the node's image in the latest completed run, if it differs."""
    current = (target.node.get("data") or {}).get("image")
    runs = (
        Run.objects.filter(workflow=target.workflow, status=Run.Status.COMPLETED)
        .select_related("version")
        .order_by("-started_at")[:20]
    )
    for run in runs:
        node = _node(run.version.nodes, target.node_id)
        image = (node or {}).get("data", {}).get("image")
        if image and image != current:
            return image
    return None


# --- Applying a fix ---------------------------------------------------------------


@dataclass
class FixResult:
    """What applying a fix did."""

    fix_id: str
    diff: dict
    revision: int
    state: str
    run: Run | None = None

    def as_dict(self) -> dict:
        """Return the result as JSON."""
        return {
            "fix_id": self.fix_id,
            "diff": self.diff,
            "revision": self.revision,
            "state": self.state,
            "run_id": str(self.run.pk) if self.run else None,
        }


def preview_fix(
    target: NodeTarget, diagnosis: Diagnosis, fix_id: str, inputs=None
) -> dict:
    """Return the diff a fix would make to the current canvas."""
    fix = _offered(diagnosis, fix_id)
    workflow = target.workflow
    nodes, edges = _applied(fix, workflow, inputs)
    return compare_canvases(
        (workflow.nodes, workflow.edges), (nodes, edges), reveal=crypto.unseal
    )


def apply_fix(
    target: NodeTarget, fix_id: str, *, user, inputs=None, run: bool = False
) -> FixResult:
    """Apply an offered fix to the workflow: to draft, save, and run if asked.

    The fix is looked up in a fresh diagnosis, never taken from the client.
    A published workflow goes back to draft first; with `run` it is
    published again and a run starts.
    """
    _, diagnosis = diagnose_node(target)
    fix = _offered(diagnosis, fix_id)
    workflow = Workflow.objects.get(pk=target.workflow.pk)
    if workflow.state == Workflow.State.ARCHIVED:
        raise Conflict("This workflow is archived; restore it before fixing it.")
    before = (workflow.nodes, workflow.edges)
    nodes, edges = _applied(fix, workflow, inputs)
    diff = compare_canvases(before, (nodes, edges), reveal=crypto.unseal)
    with transaction.atomic():
        if workflow.state == Workflow.State.PUBLISHED:
            workflow_actions.move_workflow(workflow.pk, Workflow.State.DRAFT)
        saved = workflow_actions.save_canvas(
            workflow.pk, nodes=nodes, edges=edges, base_revision=workflow.revision
        )
    logger.info(
        "fix %s applied to node %s of workflow %s (revision %s)",
        fix_id,
        target.node_id,
        workflow.pk,
        saved.revision,
    )
    started = _publish_and_run(saved, user) if run else None
    saved.refresh_from_db()
    return FixResult(fix_id, diff, saved.revision, saved.state, started)


def _applied(fix, workflow: Workflow, inputs) -> tuple[list[dict], list[dict]]:
    """Apply a fix to the current canvas; refuse when its node is gone."""
    try:
        return fix.apply(workflow.nodes, workflow.edges, inputs)
    except KeyError as missing:
        raise FixRefused(f"The canvas changed since the diagnosis: {missing}") from None


def _offered(diagnosis: Diagnosis | None, fix_id: str):
    fix = diagnosis.fix_by_id(fix_id) if diagnosis else None
    if fix is None:
        raise FixRefused(f"Fix {fix_id!r} is not offered for this node now.")
    return fix


def _publish_and_run(workflow: Workflow, user) -> Run:
    from .actions import start_run

    workflow_actions.move_workflow(workflow.pk, Workflow.State.PUBLISHED)
    return start_run(workflow.pk, triggered_by=Run.Trigger.MANUAL, user=user)


# --- Terminal sessions ------------------------------------------------------------


def open_terminal_session(
    target: NodeTarget, user, pod: str, container: str, command: list[str]
) -> TerminalSession:
    """Record that a user opened a terminal into a container."""
    session = TerminalSession.objects.create(
        user=user,
        workflow=target.workflow,
        node_id=target.node_id,
        namespace=target.namespace,
        pod=pod,
        container=container,
        command=list(command),
    )
    logger.info(
        "terminal %s opened by %s into %s/%s (%s) of workflow %s",
        session.pk,
        user,
        target.namespace,
        pod,
        container,
        target.workflow.pk,
    )
    return session


def close_terminal_session(session_id, *, exit_code: int | None, reason: str) -> None:
    """Record that a terminal ended (once; later calls change nothing)."""
    updated = TerminalSession.objects.filter(pk=session_id, ended_at=None).update(
        ended_at=timezone.now(), exit_code=exit_code, end_reason=reason[:200]
    )
    if updated:
        logger.info("terminal %s ended: %s (exit %s)", session_id, reason, exit_code)


def node_state_of(health: Health | None) -> str:
    """Return the colour word of a health for the API."""
    return (health.state if health else HealthState.UNKNOWN).value
