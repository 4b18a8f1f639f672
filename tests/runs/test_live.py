"""Live status helpers: group names, event shapes, snapshots, run progress.

Also holds the helpers the other live tests share: a listener on a real
channel-layer group, and a small canvas.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.utils import timezone

from runs import live
from runs.actions import RunRecorder, start_run
from runs.health import Health, HealthState
from runs.models import NodeStatus, Run
from tests.factories import make_cluster, make_workflow

WAIT = 15.0


def small_canvas(image: str = "nginx:1.27", replicas: int = 2) -> dict:
    """A Deployment "api" and the Service "api-svc" that selects it."""
    return {
        "nodes": [
            {
                "id": "api",
                "type": "deployment",
                "position": {"x": 0, "y": 0},
                "data": {
                    "name": "api",
                    "image": image,
                    "replicas": replicas,
                    "containerPorts": [{"name": "http", "containerPort": 80}],
                },
            },
            {
                "id": "api-svc",
                "type": "service",
                "position": {"x": 300, "y": 0},
                "data": {
                    "name": "api",
                    "type": "ClusterIP",
                    "ports": [{"name": "http", "port": 80}],
                },
            },
        ],
        "edges": [
            {
                "id": "svc-to-api",
                "source": "api-svc",
                "target": "api",
                "sourceHandle": "out",
                "targetHandle": "in",
            }
        ],
    }


def wait_until(predicate, timeout: float = WAIT, what: str = "condition"):
    """Poll a predicate until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


class GroupListener:
    """Collects what one channel-layer group receives, in a thread of its own."""

    STOP = "listener.stop"

    def __init__(self, layer, group: str) -> None:
        self.layer = layer
        self.group = group
        self.received: list[tuple[float, dict]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._channel = None

    def __enter__(self) -> GroupListener:
        self._thread.start()
        assert self._ready.wait(10), "the listener did not join its group"
        return self

    def __exit__(self, *exc_info) -> None:
        stop = self.layer.send(self._channel, {"type": self.STOP})
        asyncio.run_coroutine_threadsafe(stop, self._loop).result(10)
        self._thread.join(10)

    @property
    def messages(self) -> list[dict]:
        return [message for _, message in list(self.received)]

    def of_type(self, event_type: str) -> list[dict]:
        return [m["data"] for m in self.messages if m["type"] == event_type]

    def wait_for(self, predicate, timeout: float = WAIT, what: str = "message"):
        return wait_until(lambda: predicate(self), timeout, what)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._loop.close()

    async def _listen(self) -> None:
        self._channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self._channel)
        self._ready.set()
        while True:
            message = await self.layer.receive(self._channel)
            if message["type"] == self.STOP:
                break
            self.received.append((time.monotonic(), message))
        await self.layer.group_discard(self.group, self._channel)


@pytest.fixture
def workflow(owner, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    return make_workflow(owner, cluster, canvas=small_canvas(), state="published")


def test_each_workflow_has_one_group_named_after_its_uuid(workflow):
    assert live.group_for(workflow.pk) == f"workflow.{workflow.pk}"


@pytest.mark.django_db
def test_a_snapshot_holds_every_node_status_and_the_latest_run(workflow):
    first = start_run(workflow.pk, triggered_by="manual")
    Run.objects.filter(pk=first.pk).update(status=Run.Status.COMPLETED)
    latest = start_run(workflow.pk, triggered_by="manual")
    recorder = RunRecorder(latest)
    recorder.node_state("api", "applying", "applying 2 objects")
    recorder.log("info", "Deploying version 2.")
    NodeStatus.objects.create(
        workflow=workflow,
        node_id="api",
        kind="deployment",
        state="progressing",
        message="1/2 ready",
        ready=1,
        desired=2,
        health={"state": "progressing", "message": "1/2 ready"},
        observed_at=timezone.now(),
    )

    snapshot = live.build_snapshot(workflow)

    assert snapshot["workflow_id"] == str(workflow.pk)
    assert snapshot["state"] == "progressing"
    [node] = snapshot["nodes"]
    assert node["node_id"] == "api"
    assert (node["state"], node["ready"], node["desired"]) == ("progressing", 1, 2)
    assert node["observed_at"].endswith("+00:00")
    run = snapshot["run"]
    assert run["run_id"] == str(latest.pk)
    assert (run["status"], run["version"]) == ("running", 2)
    states = {s["node_id"]: s["state"] for s in run["node_states"]}
    assert states == {"api": "applying", "api-svc": "pending"}
    assert [line["message"] for line in run["logs"]] == ["Deploying version 2."]


@pytest.mark.django_db
def test_a_workflow_never_run_has_an_empty_unknown_snapshot(workflow):
    snapshot = live.build_snapshot(workflow)

    assert snapshot == {
        "workflow_id": str(workflow.pk),
        "state": "unknown",
        "nodes": [],
        "run": None,
    }


def test_the_workflow_state_is_the_worst_of_its_nodes():
    assert live.workflow_state(["healthy", "progressing", "healthy"]) == "progressing"
    assert live.workflow_state(["healthy", "degraded", "missing"]) == "degraded"
    assert live.workflow_state(["healthy", "suspended"]) == "suspended"
    assert live.workflow_state([]) == "unknown"


@pytest.mark.django_db(transaction=True)
def test_the_run_recorder_streams_node_states_and_log_lines_as_it_flushes(
    workflow, channel_layer
):
    run = start_run(workflow.pk, triggered_by="manual")
    recorder = RunRecorder(run)
    health = Health(HealthState.HEALTHY, "2/2 ready", ready=2, desired=2)

    with GroupListener(channel_layer, live.group_for(workflow.pk)) as listener:
        recorder.node_state("api", "applying")
        recorder.log("info", "applied api", "api")
        recorder.node_state("api", "healthy", "2/2 ready", health)
        listener.wait_for(lambda got: len(got.messages) >= 3)

    assert [m["type"] for m in listener.messages] == ["run.node", "run.log", "run.node"]
    applying, line, done = (m["data"] for m in listener.messages)
    assert applying == {
        "workflow_id": str(workflow.pk),
        "run_id": str(run.pk),
        "node_id": "api",
        "kind": "deployment",
        "state": "applying",
        "message": "",
        "health": {},
        "updated_at": applying["updated_at"],
    }
    assert line["message"] == "applied api"
    assert (line["level"], line["node_id"], line["run_id"]) == (
        "info",
        "api",
        str(run.pk),
    )
    assert line["id"] == run.log_lines.get().pk
    assert done["health"]["ready"] == 2
    assert run.node_states.get(node_id="api").state == "healthy"


@pytest.mark.django_db(transaction=True)
def test_a_broken_channel_layer_does_not_break_the_run_it_reports_on(
    workflow, settings
):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0"}]},
        }
    }
    channel_layers.backends.clear()
    try:
        run = start_run(workflow.pk, triggered_by="manual")
        recorder = RunRecorder(run)

        recorder.log("info", "still recorded")

        assert run.log_lines.get().message == "still recorded"
    finally:
        channel_layers.backends.clear()
