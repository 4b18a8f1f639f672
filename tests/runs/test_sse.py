"""The SSE status stream: real consumer behind the real ASGI application.

``ApplicationCommunicator`` reads the response chunk by chunk, the way a
client of a never-ending stream does; one test runs a real daphne.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels_redis.core import RedisChannelLayer
from django.test import Client
from django.utils import timezone

from kubeorch.asgi import application
from kubeorch.embedded import free_port
from kubeorch.management.commands.apitoken import issue_token
from runs import live
from runs.models import NodeStatus
from tests.factories import make_cluster, make_workflow
from tests.processes import database_url_for_children
from tests.runs.test_live import small_canvas, wait_until


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


def http_scope(path: str, *headers) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
    }


class Stream:
    """One open HTTP request to the ASGI application, read as it comes."""

    def __init__(self, path: str, *headers) -> None:
        self.app = ApplicationCommunicator(application, http_scope(path, *headers))
        self.status = None
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.ended = False

    async def open(self) -> Stream:
        await self.app.send_input({"type": "http.request", "body": b""})
        start = await self.app.receive_output(timeout=10)
        self.status = start["status"]
        self.headers = {k.lower(): v for k, v in start["headers"]}
        return self

    async def read_until(self, text: str, seconds: float = 10.0) -> str:
        """Read body chunks until the body holds `text`."""
        deadline = time.monotonic() + seconds
        while text.encode() not in self.body:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.ended:
                raise AssertionError(f"{text!r} not in {self.body!r}")
            message = await self.app.receive_output(timeout=remaining)
            self.body += message.get("body", b"")
            self.ended = not message.get("more_body", False)
        return self.body.decode()

    async def close(self) -> None:
        await self.app.send_input({"type": "http.disconnect"})
        await self.app.wait(timeout=5)


def parse_events(text: str) -> list[tuple[str, dict]]:
    """Split a text/event-stream body into (event, data) pairs."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.fixture
def workflow(owner, kubeconfig_text):
    cluster = make_cluster(owner, kubeconfig_text)
    workflow = make_workflow(owner, cluster, canvas=small_canvas(), state="published")
    NodeStatus.objects.create(
        workflow=workflow,
        node_id="api",
        kind="deployment",
        state="healthy",
        message="2/2 ready",
        ready=2,
        desired=2,
        health={"state": "healthy", "message": "2/2 ready"},
        observed_at=timezone.now(),
    )
    return workflow


def stream_path(workflow_id) -> str:
    return f"/v1/api/workflows/{workflow_id}/status/stream"


@pytest.mark.django_db(transaction=True)
def test_a_token_holder_gets_the_snapshot_then_events_as_sse(
    workflow, owner, channel_layer
):
    token = issue_token(owner.username)

    async def scenario():
        stream = await Stream(stream_path(workflow.pk), bearer(token)).open()
        await stream.read_until("event: snapshot")
        data = {"workflow_id": str(workflow.pk), "node_id": "api", "state": "degraded"}
        await channel_layer.group_send(
            live.group_for(workflow.pk), live.message(live.NODE_STATUS, data)
        )
        body = await stream.read_until("event: node.status")
        await stream.close()
        return stream, body

    stream, body = async_to_sync(scenario)()

    assert stream.status == 200
    assert stream.headers[b"content-type"].startswith(b"text/event-stream")
    assert stream.headers[b"cache-control"] == b"no-cache"
    (first, snapshot), (second, event) = parse_events(body)
    assert first == "snapshot"
    assert snapshot["nodes"][0]["message"] == "2/2 ready"
    assert (second, event["state"]) == ("node.status", "degraded")


@pytest.mark.django_db(transaction=True)
def test_a_logged_in_browser_may_use_its_session(workflow, owner):
    browser = Client()
    browser.force_login(owner)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())

    async def scenario():
        stream = await Stream(stream_path(workflow.pk), cookie).open()
        body = await stream.read_until("event: snapshot")
        await stream.close()
        return stream.status, body

    status, body = async_to_sync(scenario)()

    assert status == 200
    assert parse_events(body)[0][1]["workflow_id"] == str(workflow.pk)


@pytest.mark.django_db(transaction=True)
def test_no_credentials_or_a_bad_token_answer_401(workflow):
    async def answer(*headers):
        stream = await Stream(stream_path(workflow.pk), *headers).open()
        body = await stream.read_until("}")
        await stream.app.wait(timeout=5)
        return stream.status, stream.headers, json.loads(body)

    for headers in ((), (bearer("not-a-token"),)):
        status, response_headers, body = async_to_sync(answer)(*headers)

        assert status == 401
        assert response_headers[b"www-authenticate"] == b"Bearer"
        assert "detail" in body


@pytest.mark.django_db(transaction=True)
def test_an_outsider_or_an_unknown_workflow_answers_404(workflow, outsider, owner):
    outsider_token = issue_token(outsider.username)
    owner_token = issue_token(owner.username)

    async def answer(path, token):
        stream = await Stream(path, bearer(token)).open()
        body = await stream.read_until("}")
        return stream.status, body

    unknown = stream_path("00000000-0000-0000-0000-000000000000")
    outsider_status, body = async_to_sync(answer)(
        stream_path(workflow.pk), outsider_token
    )
    unknown_status, _ = async_to_sync(answer)(unknown, owner_token)

    assert (outsider_status, unknown_status) == (404, 404)
    assert "snapshot" not in body


@pytest.mark.django_db(transaction=True)
def test_a_quiet_stream_gets_keep_alive_comments(workflow, owner, settings):
    settings.KUBEORCH_SSE_KEEPALIVE = 0.05
    token = issue_token(owner.username)

    async def scenario():
        stream = await Stream(stream_path(workflow.pk), bearer(token)).open()
        body = await stream.read_until(": keep-alive\n\n: keep-alive\n\n")
        await stream.close()
        return body

    body = async_to_sync(scenario)()

    assert body.index("event: snapshot") < body.index(": keep-alive")


@pytest.mark.django_db(transaction=True)
def test_every_other_request_still_reaches_django(workflow, owner):
    token = issue_token(owner.username)

    async def scenario():
        stream = await Stream(f"/v1/api/workflows/{workflow.pk}", bearer(token)).open()
        body = await stream.read_until("}")
        return stream.status, json.loads(body)

    status, body = async_to_sync(scenario)()

    assert status == 200
    assert body["id"] == str(workflow.pk)


@pytest.fixture
def daphne_server(redis_url):
    """A real daphne serving kubeorch.asgi on the test database and Redis."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_children(),
        "REDIS_URL": redis_url,
    }
    base = Path(__file__).resolve().parents[2]
    command = [
        sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
        "kubeorch.asgi:application",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), timeout=30, what="daphne")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/accounts/login/", timeout=1)
    except requests.ConnectionError:
        return False
    return True


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_stream_stays_open_under_daphne_and_delivers_events(
    daphne_server, workflow, owner, redis_url
):
    token = issue_token(owner.username)
    # The default layer, as daphne's process configures it (no test prefix).
    layer = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": None}])

    with requests.get(
        daphne_server + stream_path(workflow.pk),
        headers={"Authorization": f"Bearer {token}"},
        stream=True,
        timeout=10,
    ) as response:
        lines = response.iter_lines(decode_unicode=True)
        first = [next(lines), next(lines)]
        data = {"workflow_id": str(workflow.pk), "node_id": "api", "state": "missing"}
        async_to_sync(layer.group_send)(
            live.group_for(workflow.pk), live.message(live.NODE_STATUS, data)
        )
        after = [line for line in (next(lines) for _ in range(3)) if line]

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert first[0] == "event: snapshot"
    assert json.loads(first[1].removeprefix("data: "))["nodes"][0]["node_id"] == "api"
    assert after[0] == "event: node.status"
    assert json.loads(after[1].removeprefix("data: "))["state"] == "missing"
