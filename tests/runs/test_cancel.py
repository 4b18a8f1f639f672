"""Cancelling a large run midway: nothing left running, nothing half-written.

The run goes through the API and a real Celery worker against kubesim. To
cancel it "midway" for certain, a store listener holds kubesim's writes
after the fifth Deployment, as a slow API server would, while the cancel is
asked for; then it lets them go.
"""

import threading
import time

import pytest

from runs.dry_run import dry_run_workflow
from runs.models import Run, RunNodeState
from tests.factories import make_cluster, make_workflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

APPS = 20  # five nodes each: 100 nodes
HOLD_AFTER_DEPLOYMENTS = 5
# The worker reads the cancel flag every 0.5 s (RunRecorder.CANCEL_CHECK_EVERY)
# between polls of 0.25 s; holding the writes longer than both lets it see it.
NOTICE_CANCEL_WITHIN = 1.5


def app_nodes(index: int) -> tuple[list[dict], list[dict]]:
    """ConfigMap, Deployment, Service, Ingress and HPA of one small app."""
    name = f"app{index:02d}"
    ids = {part: f"{name}-{part}" for part in ("cfg", "web", "svc", "ing", "hpa")}

    def at(node_id, node_type, **data):
        return {
            "id": node_id,
            "type": node_type,
            "position": {"x": 0, "y": index},
            "data": data,
        }

    nodes = [
        at(ids["cfg"], "configmap", name=f"{name}-config", data={"LOG": "info"}),
        at(
            ids["web"],
            "deployment",
            name=name,
            image="nginx:1.27",
            replicas=1,
            containerPorts=[{"name": "http", "containerPort": 80}],
            resources={"requests": {"cpu": "10m", "memory": "16Mi"}},
        ),
        at(ids["svc"], "service", name=name, ports=[{"name": "http", "port": 80}]),
        at(
            ids["ing"],
            "ingress",
            name=name,
            host=f"{name}.example.com",
            paths=[{"path": "/", "pathType": "Prefix"}],
        ),
        at(
            ids["hpa"],
            "hpa",
            name=name,
            minReplicas=1,
            maxReplicas=3,
            targetCPUUtilization=70,
        ),
    ]

    def link(source, target, handle="out", **data):
        built = {
            "id": f"{source}-{target}",
            "source": source,
            "target": target,
            "sourceHandle": handle,
            "targetHandle": "in",
        }
        return {**built, "data": data} if data else built

    edges = [
        link(ids["svc"], ids["web"]),
        link(ids["ing"], ids["svc"], handle="path-0"),
        link(ids["hpa"], ids["web"]),
        link(ids["cfg"], ids["web"], mode="volume", mountPath="/etc/config"),
    ]
    return nodes, edges


def hundred_nodes() -> dict:
    nodes, edges = [], []
    for index in range(APPS):
        more_nodes, more_edges = app_nodes(index)
        nodes += more_nodes
        edges += more_edges
    return {"nodes": nodes, "edges": edges}


class WriteGate:
    """Hold kubesim's store after the n-th Deployment is created."""

    def __init__(self, store, after: int):
        self.store = store
        self.after = after
        self.created = 0
        self.reached = threading.Event()
        self.opened = threading.Event()

    def __enter__(self):
        self.store.add_listener(self._listen, copy=False)
        return self

    def __exit__(self, *exc_info):
        self.opened.set()
        self.store.remove_listener(self._listen)

    def _listen(self, event_type, rt, obj) -> None:
        if event_type != "ADDED" or rt.kind != "Deployment":
            return
        self.created += 1
        if self.created == self.after:
            self.reached.set()
            # Called with the store's lock held: every write waits here.
            self.opened.wait(timeout=8)


def wait_for_run(run_id, timeout: float = 120) -> Run:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=run_id)
        if run.status != Run.Status.RUNNING:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


@pytest.fixture
def workflow(owner, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    return make_workflow(
        owner, cluster, canvas=hundred_nodes(), state="published", namespace="many"
    )


def test_cancelling_a_100_node_run_midway_leaves_a_consistent_cluster(
    celery_worker, owner_api, workflow, kubesim
):
    base = f"/v1/api/workflows/{workflow.pk}"

    with WriteGate(kubesim.store, after=HOLD_AFTER_DEPLOYMENTS) as gate:
        started = owner_api.post(base + "/run", {}, format="json")
        assert started.status_code == 202, started.content
        assert gate.reached.wait(timeout=60), "the run never reached the workloads"
        cancel = owner_api.post(f"/v1/api/runs/{started.data['run_id']}/cancel")
        time.sleep(NOTICE_CANCEL_WITHIN)
    cancelled = wait_for_run(started.data["run_id"])

    assert cancel.status_code == 200, cancel.content
    assert cancelled.status == "cancelled", cancelled.summary
    assert not Run.objects.filter(status=Run.Status.RUNNING).exists()
    states = dict(
        RunNodeState.objects.filter(run=cancelled).values_list("node_id", "state")
    )
    assert "pending" not in states.values() and "applying" not in states.values()
    skipped = [node for node, state in states.items() if state == "skipped"]
    assert skipped, "the run stopped before every node was applied"
    preview = dry_run_workflow(workflow)
    actions = {node["node_id"]: node["action"] for node in preview["nodes"]}
    assert set(actions.values()) <= {"create", "unchanged"}, (
        "every object in the cluster is either absent or exactly as rendered"
    )
    assert "create" in actions.values() and "unchanged" in actions.values()

    again = owner_api.post(base + "/run", {}, format="json")
    finished = wait_for_run(again.data["run_id"])

    assert finished.status == "completed", finished.summary
    preview = dry_run_workflow(workflow)
    assert {node["action"] for node in preview["nodes"]} == {"unchanged"}
