"""The editor's WebSocket: real consumers behind the real ASGI application.

Sessions come from Django's login (a real session row and cookie); the
channel layer is channels-redis on the test Redis. The async scenarios run
inside ``async_to_sync`` so database helpers share the test's connection.
"""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from kubernetes import client

from clusters.connection import api_client_for
from kubeorch.asgi import application
from kubeorch.management.commands.apitoken import issue_token
from runs import live
from runs.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND
from runs.models import NodeStatus
from tests.factories import make_cluster, make_workflow, three_tier_canvas
from tests.runs.test_live import small_canvas, wait_until
from tests.runs.test_watcher import deploy, make_watcher, statuses
from tests.test_three_tier import Api

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_cookie(user) -> tuple[bytes, bytes]:
    """Log a user in for real and return the Cookie header of the session."""
    browser = Client()
    browser.force_login(user)
    return (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())


def communicator(workflow_id, *headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/workflows/{workflow_id}/", headers=[ORIGIN, *headers]
    )


async def frames_until(socket, done, seconds: float = 20.0) -> list[dict]:
    """Receive JSON frames until done(frames) is true (bounded)."""
    frames: list[dict] = []
    deadline = time.monotonic() + seconds
    while not done(frames):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"gave up after {seconds} s with {frames}")
        try:
            frames.append(await socket.receive_json_from(timeout=min(remaining, 1)))
        except TimeoutError:
            continue
    return frames


@pytest.fixture
def workflow(owner, teammate, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    workflow = make_workflow(owner, cluster, canvas=small_canvas(), state="published")
    workflow.shared_with.add(teammate)
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
    return workflow


@pytest.mark.django_db(transaction=True)
def test_the_owner_gets_a_snapshot_then_every_live_event(
    workflow, owner, channel_layer
):
    async def scenario():
        socket = communicator(workflow.pk, session_cookie_of_owner)
        connected, _ = await socket.connect()
        snapshot = await socket.receive_json_from()
        group = live.group_for(workflow.pk)
        for event_type in live.EVENT_TYPES:
            data = {"workflow_id": str(workflow.pk), "sample": event_type}
            await channel_layer.group_send(group, live.message(event_type, data))
        frames = await frames_until(socket, lambda got: len(got) == 5)
        await socket.disconnect()
        return connected, snapshot, frames

    session_cookie_of_owner = session_cookie(owner)
    connected, snapshot, frames = async_to_sync(scenario)()

    assert connected
    assert snapshot["type"] == "snapshot"
    assert snapshot["data"]["nodes"][0]["message"] == "1/2 ready"
    assert snapshot["data"]["state"] == "progressing"
    assert [f["type"] for f in frames] == list(live.EVENT_TYPES)
    assert all(f["data"]["sample"] == f["type"] for f in frames)


@pytest.mark.django_db(transaction=True)
def test_a_teammate_may_watch_and_ask_for_a_fresh_snapshot(workflow, teammate):
    async def scenario():
        socket = communicator(workflow.pk, cookie)
        await socket.connect()
        first = await socket.receive_json_from()
        await sync_to_async(NodeStatus.objects.filter(workflow=workflow).update)(
            state="healthy", message="2/2 ready"
        )
        await socket.send_json_to({"type": "snapshot"})
        second = await socket.receive_json_from()
        await socket.disconnect()
        return first, second

    cookie = session_cookie(teammate)
    first, second = async_to_sync(scenario)()

    assert first["data"]["nodes"][0]["state"] == "progressing"
    assert second["data"]["nodes"][0]["state"] == "healthy"


@pytest.mark.django_db(transaction=True)
def test_an_outsider_is_closed_with_4404_and_hears_nothing(
    workflow, outsider, channel_layer
):
    async def scenario():
        socket = communicator(workflow.pk, cookie)
        await socket.connect()
        closing = await socket.receive_output()
        await channel_layer.group_send(
            live.group_for(workflow.pk), live.message(live.NODE_STATUS, {"x": 1})
        )
        heard = await socket.receive_nothing(timeout=0.3)
        return closing, heard

    cookie = session_cookie(outsider)
    closing, heard_nothing = async_to_sync(scenario)()

    assert closing == {"type": "websocket.close", "code": CLOSE_NOT_FOUND}
    assert heard_nothing


@pytest.mark.django_db(transaction=True)
def test_an_unknown_workflow_is_closed_with_4404(owner):
    async def scenario():
        socket = communicator("00000000-0000-0000-0000-000000000000", cookie)
        await socket.connect()
        return await socket.receive_output()

    cookie = session_cookie(owner)

    assert async_to_sync(scenario)()["code"] == CLOSE_NOT_FOUND


@pytest.mark.django_db(transaction=True)
def test_someone_not_logged_in_is_closed_with_4403(workflow):
    async def scenario():
        socket = communicator(workflow.pk)
        await socket.connect()
        return await socket.receive_output()

    assert async_to_sync(scenario)() == {
        "type": "websocket.close",
        "code": CLOSE_FORBIDDEN,
    }


@pytest.mark.django_db(transaction=True)
def test_a_page_of_another_origin_cannot_open_the_socket(workflow, owner):
    async def scenario():
        socket = WebsocketCommunicator(
            application,
            f"/ws/workflows/{workflow.pk}/",
            headers=[(b"origin", b"http://evil.example"), cookie],
        )
        connected, _ = await socket.connect()
        return connected

    cookie = session_cookie(owner)

    assert async_to_sync(scenario)() is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_client_that_reconnects_after_missing_events_gets_the_current_state(
    owner, kubeconfig_text, channel_layer
):
    cluster = make_cluster(owner, kubeconfig_text)
    workflow = make_workflow(owner, cluster, canvas=small_canvas(), state="published")
    deploy(workflow)
    cookie = session_cookie(owner)

    async def snapshot_now():
        socket = communicator(workflow.pk, cookie)
        await socket.connect()
        frame = await socket.receive_json_from()
        await socket.disconnect()
        return {n["node_id"]: n for n in frame["data"]["nodes"]}

    with make_watcher().running():
        wait_until(lambda: statuses(workflow).get("api", None) is not None)
        wait_until(lambda: statuses(workflow)["api"].message == "2/2 ready")
        before = async_to_sync(snapshot_now)()
        api = api_client_for(cluster)
        client.AppsV1Api(api).patch_namespaced_deployment_scale(
            "api", "default", {"spec": {"replicas": 3}}
        )
        api.close()
        wait_until(lambda: statuses(workflow)["api"].message == "3/3 ready")
        after = async_to_sync(snapshot_now)()

    assert before["api"]["message"] == "2/2 ready"
    assert (after["api"]["state"], after["api"]["message"]) == ("healthy", "3/3 ready")
    assert after["api-svc"]["message"] == "3 ready endpoints"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_three_tier_run_streams_every_node_from_grey_to_green(
    live_server, owner, kubeconfig_text, celery_worker, channel_layer
):
    api = Api(live_server.url, issue_token(owner.username))
    cluster = api.call(
        "POST", "/clusters", {"name": "sim", "kubeconfig": kubeconfig_text}, expect=201
    )
    workflow = api.call(
        "POST", "/workflows", {"name": "shop", "cluster_id": cluster["id"]}, expect=201
    )
    canvas = three_tier_canvas()
    node_ids = {node["id"] for node in canvas["nodes"]}
    cookie = session_cookie(owner)

    def all_green(frames) -> bool:
        latest = {}
        for frame in frames:
            if frame["type"] == live.NODE_STATUS:
                latest[frame["data"]["node_id"]] = frame["data"]["state"]
        statuses_done = latest == dict.fromkeys(node_ids, "healthy")
        ended = any(
            f["type"] == live.RUN_STATUS and f["data"]["status"] == "completed"
            for f in frames
        )
        return statuses_done and ended

    async def scenario():
        socket = communicator(workflow["id"], cookie)
        await socket.connect()
        snapshot = await socket.receive_json_from()
        run = await sync_to_async(api.deploy)(workflow["id"], canvas, 0)
        frames = await frames_until(socket, all_green, seconds=30)
        await socket.disconnect()
        return snapshot, run, frames

    with make_watcher().running():
        snapshot, run, frames = async_to_sync(scenario)()

    assert run["status"] == "completed", run
    assert snapshot["data"]["nodes"] == [], "nothing deployed yet: every node grey"
    assert snapshot["data"]["run"] is None
    for node_id in node_ids:
        progress = [
            f["data"]["state"]
            for f in frames
            if f["type"] == live.RUN_NODE and f["data"]["node_id"] == node_id
        ]
        assert progress[0] == "applying" and progress[-1] == "healthy", progress
        seen = [
            f["data"]
            for f in frames
            if f["type"] == live.NODE_STATUS and f["data"]["node_id"] == node_id
        ]
        assert seen[-1]["state"] == "healthy", (node_id, seen)
    web = [
        f["data"]
        for f in frames
        if f["type"] == live.NODE_STATUS and f["data"]["node_id"] == "web"
    ][-1]
    assert (web["ready"], web["desired"], web["message"]) == (3, 3, "3/3 ready")
    lines = [f["data"]["message"] for f in frames if f["type"] == live.RUN_LOG]
    assert any(line.startswith("Deploying version 1") for line in lines)
    assert [f["data"]["status"] for f in frames if f["type"] == live.RUN_STATUS][
        -1
    ] == "completed"
