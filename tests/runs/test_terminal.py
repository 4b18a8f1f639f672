"""The terminal: a browser WebSocket bridged to exec in kubesim.

Real consumer (WebsocketCommunicator with a signed-in session), real
official-client exec WebSocket, kubesim's fake shell and its session list.
"""

import asyncio
import json
import time

import pytest
from channels.testing import WebsocketCommunicator

from kubeorch.asgi import application
from runs.models import TerminalSession
from runs.terminal import ExecBridge, clamp_size
from tests.runs.livetools import (
    ORIGIN,
    canvas,
    deploy_now,
    published,
    session_headers,
    web_node,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(owner, kubeconfig_text):
    workflow = published(owner, kubeconfig_text, canvas(web_node(replicas=1)))
    assert deploy_now(workflow, owner).status == "completed"
    return workflow


@pytest.fixture
def pod(shop, owner_api) -> str:
    answer = owner_api.get(f"/v1/api/workflows/{shop.pk}/nodes/web/pods")
    return answer.json()["pods"][0]["name"]


def _path(workflow, pod: str, query: str = "cols=100&rows=30") -> str:
    return f"/ws/workflows/{workflow.pk}/nodes/web/pods/{pod}/terminal?{query}"


async def _output_until(communicator, text: str, within: float = 10.0) -> str:
    output = ""
    deadline = time.monotonic() + within
    while text not in output:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{text!r} never came; got {output!r}"
        frame = await communicator.receive_output(timeout=remaining)
        if frame["type"] == "websocket.send" and frame.get("bytes"):
            output += frame["bytes"].decode()
    return output


async def _json_message(communicator, within: float = 10.0) -> dict:
    while True:
        frame = await communicator.receive_output(timeout=within)
        if frame.get("text"):
            return json.loads(frame["text"])


def test_a_terminal_runs_a_command_and_closing_the_page_ends_the_shell(
    shop, pod, owner, kubesim
):
    headers = session_headers(owner)

    async def scenario():
        communicator = WebsocketCommunicator(
            application, _path(shop, pod), headers=headers
        )
        connected, _ = await communicator.connect()
        assert connected
        prompt = await _output_until(communicator, "# ")
        await communicator.send_to(
            text_data=json.dumps({"type": "input", "data": "stty size\r"})
        )
        size = await _output_until(communicator, "30 100")
        await communicator.send_to(
            text_data=json.dumps({"type": "resize", "cols": 120, "rows": 40})
        )
        await communicator.send_to(bytes_data=b"echo hello from $HOSTNAME\r")
        echoed = await _output_until(communicator, f"hello from {pod}\r\n")
        open_sessions = await asyncio.to_thread(kubesim.exec_sessions)
        await communicator.send_to(text_data=json.dumps({"type": "ping"}))
        pong = await _json_message(communicator)
        await communicator.disconnect()
        return prompt, size, echoed, open_sessions, pong

    prompt, size, echoed, open_sessions, pong = asyncio.run(scenario())

    assert prompt == "# "
    assert "30 100\r\n" in size
    assert f"hello from {pod}" in echoed
    assert pong == {"type": "pong"}
    assert [(s["pod"], s["container"], s["tty"]) for s in open_sessions] == [
        (pod, "web", True)
    ]
    _wait(lambda: kubesim.exec_sessions() == [])
    session = TerminalSession.objects.get()
    assert (session.user, session.pod, session.container) == (owner, pod, "web")
    assert session.workflow == shop and session.node_id == "web"
    assert session.ended_at is not None and session.end_reason == "closed"


def _wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "still not true"
        time.sleep(0.05)


def test_the_shell_exiting_closes_the_terminal_with_its_code(shop, pod, owner, kubesim):
    headers = session_headers(owner)

    async def scenario():
        communicator = WebsocketCommunicator(
            application, _path(shop, pod), headers=headers
        )
        connected, _ = await communicator.connect()
        assert connected
        await _output_until(communicator, "# ")
        await communicator.send_to(bytes_data=b"exit 3\r")
        message = await _json_message(communicator)
        closed = await communicator.receive_output(timeout=5)
        return message, closed

    message, closed = asyncio.run(scenario())

    assert message["type"] == "exit" and message["code"] == 3
    assert closed["type"] == "websocket.close"
    session = TerminalSession.objects.get()
    assert session.exit_code == 3 and session.end_reason == "exited"
    assert kubesim.exec_sessions() == []


def test_an_outsider_cannot_open_a_terminal(shop, pod, outsider, kubesim):
    async def scenario(headers):
        communicator = WebsocketCommunicator(
            application, _path(shop, pod), headers=headers
        )
        answer = await communicator.connect()
        await communicator.disconnect()
        return answer

    assert asyncio.run(scenario(session_headers(outsider))) == (False, 4404)
    assert asyncio.run(scenario([ORIGIN])) == (False, 4401)
    assert not TerminalSession.objects.exists()
    assert kubesim.exec_sessions() == []


def test_a_pod_outside_the_node_is_refused_even_by_its_owner(
    shop, owner, owner_api, kubeconfig_text, kubesim
):
    other = published(owner, kubeconfig_text, canvas(web_node(name="api")), name="api")
    assert deploy_now(other, owner).status == "completed"
    foreign = owner_api.get(f"/v1/api/workflows/{other.pk}/nodes/web/pods").json()
    foreign_pod = foreign["pods"][0]["name"]
    headers = session_headers(owner)

    async def scenario():
        communicator = WebsocketCommunicator(
            application, _path(shop, foreign_pod), headers=headers
        )
        answer = await communicator.connect()
        await communicator.disconnect()
        return answer

    assert asyncio.run(scenario()) == (False, 4404)
    assert kubesim.exec_sessions() == []


def test_an_unknown_container_is_refused(shop, pod, owner):
    headers = session_headers(owner)

    async def scenario():
        communicator = WebsocketCommunicator(
            application, _path(shop, pod, "container=sidecar"), headers=headers
        )
        answer = await communicator.connect()
        await communicator.disconnect()
        return answer

    assert asyncio.run(scenario()) == (False, 4404)


def test_the_bridge_sends_keep_alive_pings_and_clamps_sizes(
    shop, pod, kubeconfig_path, kubesim
):
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=str(kubeconfig_path))
    output: list[bytes] = []
    ended: list = []
    bridge = ExecBridge(
        api_client,
        namespace="default",
        pod=pod,
        container="web",
        on_output=output.append,
        on_exit=lambda code, message: ended.append(code),
        size=clamp_size("5000", "x"),
        ping_seconds=0.1,
    )
    bridge.open()
    time.sleep(0.5)  # several pings, answered by kubesim's pongs
    bridge.write(b"stty size\r")
    _wait(lambda: b"24 80" in b"".join(output))
    bridge.close()

    assert bridge.wait(5)
    _wait(lambda: kubesim.exec_sessions() == [])
    assert ended and bridge.protocol == "v5.channel.k8s.io"
    assert clamp_size(5000, 0) == (1000, 1)
    api_client.close()
