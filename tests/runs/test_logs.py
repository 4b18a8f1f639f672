"""Pod logs: the REST endpoints, following over a WebSocket, resuming.

Real kubesim behind the official client; real consumers through
WebsocketCommunicator with a signed-in session.
"""

import asyncio
import json
from urllib.parse import quote

import pytest
from channels.testing import WebsocketCommunicator
from kubernetes import client, config

from kubeorch.asgi import application
from runs import logs
from tests.runs.livetools import (
    SESSION_SECRET,
    canvas,
    deploy_now,
    published,
    session_headers,
    web_node,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def core(kubeconfig_path):
    api = config.new_client_from_config(config_file=str(kubeconfig_path))
    yield client.CoreV1Api(api)
    api.close()


@pytest.fixture
def shop(owner, kubeconfig_text):
    workflow = published(owner, kubeconfig_text, canvas(web_node()))
    run = deploy_now(workflow, owner)
    assert run.status == "completed", run.summary
    return workflow


def _pods_url(workflow) -> str:
    return f"/v1/api/workflows/{workflow.pk}/nodes/web/pods"


def _logs_url(workflow, **query) -> str:
    params = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return f"/v1/api/workflows/{workflow.pk}/nodes/web/logs?{params}"


def test_the_pods_of_a_node_are_listed_with_their_containers(shop, owner_api):
    answer = owner_api.get(_pods_url(shop))

    assert answer.status_code == 200
    pods = answer.json()["pods"]
    assert len(pods) == 2
    assert all(p["name"].startswith("web-") for p in pods)
    assert all(p["containers"] == ["web"] and p["ready"] for p in pods)
    assert answer.json()["namespace"] == "default"


def test_a_teammate_sees_the_pods_and_an_outsider_gets_404(
    shop, teammate, teammate_api, outsider_api
):
    shop.shared_with.add(teammate)

    assert teammate_api.get(_pods_url(shop)).status_code == 200
    assert outsider_api.get(_pods_url(shop)).status_code == 404
    assert outsider_api.get(_logs_url(shop)).status_code == 404


def test_one_pods_log_is_plain_text_with_tail_and_timestamps(shop, owner_api):
    pod = owner_api.get(_pods_url(shop)).json()["pods"][0]["name"]

    full = owner_api.get(_logs_url(shop, pod=pod))
    tail = owner_api.get(_logs_url(shop, pod=pod, tail=2, timestamps="true"))

    assert full.status_code == 200
    assert full["Content-Type"].startswith("text/plain")
    text = full.content.decode()
    assert "nginx/1.27" in text
    assert "[pod/" not in text, "one pod: no prefix"
    lines = tail.content.decode().splitlines()
    assert len(lines) == 2
    assert all(logs.STAMP.match(line.split(" ", 1)[0]) for line in lines)


def test_every_pod_of_a_node_is_merged_with_a_pod_prefix(shop, owner_api):
    pods = [p["name"] for p in owner_api.get(_pods_url(shop)).json()["pods"]]

    merged = owner_api.get(_logs_url(shop, tail=3)).content.decode().splitlines()

    assert len(merged) == 6
    prefixes = {line.split(" ", 1)[0] for line in merged}
    assert prefixes == {f"[pod/{name}/web]" for name in pods}


def test_a_download_is_an_attachment(shop, owner_api):
    pod = owner_api.get(_pods_url(shop)).json()["pods"][0]["name"]

    answer = owner_api.get(_logs_url(shop, pod=pod, download="true"))

    assert answer["Content-Disposition"] == f'attachment; filename="{pod}.log"'


def test_a_pod_outside_the_workflow_is_never_reached_by_name(shop, owner_api, core):
    # A pod in the same namespace and cluster, without this workflow's labels.
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "intruder", "labels": {"kubeorch.io/node": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    )

    assert owner_api.get(_logs_url(shop, pod="intruder")).status_code == 404
    assert owner_api.get(_logs_url(shop, pod="../intruder")).status_code == 404


def test_a_pod_of_another_workflow_is_refused_through_this_one(
    shop, owner, owner_api, kubeconfig_text
):
    other = published(owner, kubeconfig_text, canvas(web_node(name="other")), name="o")
    assert deploy_now(other, owner).status == "completed"
    foreign = owner_api.get(_pods_url(other)).json()["pods"][0]["name"]

    assert owner_api.get(_logs_url(shop, pod=foreign)).status_code == 404
    assert owner_api.get(_logs_url(other, pod=foreign)).status_code == 200


def test_secret_values_are_masked_in_logs(owner, owner_api, kubeconfig_text):
    node = web_node(
        image="busybox:1.36",
        command=["sh", "-c", f"echo token={SESSION_SECRET}; sleep 3600"],
        replicas=1,
    )
    workflow = published(owner, kubeconfig_text, canvas(node))
    assert deploy_now(workflow, owner).status == "completed"

    text = owner_api.get(_logs_url(workflow)).content.decode()

    assert "token=********" in text
    assert SESSION_SECRET not in text


def test_the_previous_containers_log_tells_why_it_crashed(
    owner, owner_api, kubeconfig_text, kubesim
):
    workflow = published(
        owner,
        kubeconfig_text,
        canvas(web_node(image="kubesim/crashloop:1", replicas=1)),
    )
    deploy_now(workflow, owner)
    kubesim.advance(15)
    pod = owner_api.get(_pods_url(workflow)).json()["pods"][0]

    previous = owner_api.get(_logs_url(workflow, pod=pod["name"], previous="true"))

    assert pod["has_previous"] == ["web"]
    assert "panic: dial tcp 10.96.0.20:5432" in previous.content.decode()


# --- The cursor --------------------------------------------------------------


def _line(stamp: str, text: str) -> logs.LogLine:
    return logs.LogLine("p", "c", stamp, text)


def test_a_cursor_drops_what_was_seen_before_a_rewind():
    cursor = logs.LogCursor()
    first = [
        _line("2026-01-01T10:00:00.5Z", "a"),
        _line("2026-01-01T10:00:01.25Z", "b"),
        _line("2026-01-01T10:00:01.25Z", "c"),
    ]
    assert [cursor.admit(x) for x in first] == [True, True, True]
    assert cursor.since_time() == "2026-01-01T10:00:01Z"

    cursor.rewind()
    again = [*first[1:], _line("2026-01-01T10:00:01.25Z", "d")]
    again.append(_line("2026-01-01T10:00:02Z", "e"))

    assert [x.text for x in again if cursor.admit(x)] == ["d", "e"]


def test_a_cursor_sent_back_by_a_browser_resumes_the_same_way():
    cursor = logs.LogCursor.from_dict({"ts": "2026-01-01T10:00:01.25Z", "seen": 2})
    replayed = [
        _line("2026-01-01T10:00:01.000000001Z", "older"),
        _line("2026-01-01T10:00:01.25Z", "b"),
        _line("2026-01-01T10:00:01.250Z", "c"),
        _line("2026-01-01T10:00:03Z", "new"),
    ]

    assert [x.text for x in replayed if cursor.admit(x)] == ["new"]
    assert logs.LogCursor.from_dict({"ts": "yesterday", "seen": 1}).stamp == ""


# --- Following over the WebSocket -------------------------------------------


def _ws_path(workflow, **query) -> str:
    params = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return f"/ws/workflows/{workflow.pk}/nodes/web/logs?{params}"


async def _lines(communicator, count: int, within: float = 10.0) -> list[dict]:
    lines: list[dict] = []
    while len(lines) < count:
        message = json.loads(await communicator.receive_from(timeout=within))
        assert message["type"] == "lines", message
        lines += message["lines"]
    return lines


async def _nothing_more(communicator) -> bool:
    return await communicator.receive_nothing(timeout=1.0)


def test_following_a_pod_streams_new_lines_and_resumes_without_repeats(
    shop, owner, owner_api, kubesim
):
    pod = owner_api.get(_pods_url(shop)).json()["pods"][0]["name"]
    headers = session_headers(owner)

    async def scenario():
        first = WebsocketCommunicator(
            application, _ws_path(shop, pod=pod, tail=3), headers=headers
        )
        connected, _ = await first.connect()
        assert connected
        start = await _lines(first, 3)
        await asyncio.to_thread(kubesim.advance, 10)
        periodic = await _lines(first, 1)
        await first.disconnect()

        # The browser comes back knowing where it got to.
        last = periodic[-1]
        seen = sum(1 for x in [*start, *periodic] if x["ts"] == last["ts"])
        resume = json.dumps({f"{pod}/web": {"ts": last["ts"], "seen": seen}})
        await asyncio.to_thread(kubesim.advance, 10)
        second = WebsocketCommunicator(
            application, _ws_path(shop, pod=pod, tail=3, resume=resume), headers=headers
        )
        connected, _ = await second.connect()
        assert connected
        after = await _lines(second, 1)
        quiet = await _nothing_more(second)
        await second.disconnect()
        return start, periodic, after, quiet

    start, periodic, after, quiet = asyncio.run(scenario())

    assert [x["pod"] for x in start] == [pod] * 3
    assert "GET / HTTP/1.1" in periodic[0]["text"]
    assert len(after) == 1 and after[0]["ts"] > periodic[-1]["ts"]
    assert quiet, "nothing seen before the cut comes again"


def test_following_every_pod_of_a_node_merges_them(shop, owner, owner_api):
    pods = {p["name"] for p in owner_api.get(_pods_url(shop)).json()["pods"]}
    headers = session_headers(owner)

    async def scenario():
        communicator = WebsocketCommunicator(
            application, _ws_path(shop, tail=2), headers=headers
        )
        connected, _ = await communicator.connect()
        assert connected
        lines = await _lines(communicator, 4)
        await communicator.disconnect()
        return lines

    assert {x["pod"] for x in asyncio.run(scenario())} == pods


def test_an_outsider_or_a_stranger_cannot_follow_logs(shop, outsider):
    async def scenario(headers):
        communicator = WebsocketCommunicator(
            application, _ws_path(shop), headers=headers
        )
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    assert asyncio.run(scenario(session_headers(outsider))) == (False, 4404)
    assert asyncio.run(scenario([(b"origin", b"http://127.0.0.1")])) == (False, 4401)


def test_a_follower_goes_on_across_container_restarts_without_repeats(
    owner, kubeconfig_text, kubeconfig_path, kubesim
):
    workflow = published(
        owner,
        kubeconfig_text,
        canvas(web_node(image="kubesim/crashloop:1", replicas=1)),
    )
    deploy_now(workflow, owner)
    api_client = config.new_client_from_config(config_file=str(kubeconfig_path))
    seen: list[logs.LogLine] = []
    follower = logs.NodeLogFollower(
        api_client,
        namespace="default",
        workflow_id=str(workflow.pk),
        node_id="web",
        options=logs.LogOptions(tail_lines=None),
        on_line=seen.append,
    )
    follower.start()
    try:
        for _ in range(3):
            kubesim.advance(60)
            _wait_for(lambda: sum("starting web" in x.text for x in seen) >= 2)
        starts = [x for x in seen if "starting web" in x.text]
    finally:
        follower.stop()
        follower.join()
        api_client.close()

    assert len(starts) >= 2, "lines of a restarted container keep coming"
    keys = [(x.stamp, x.text) for x in seen]
    assert len(keys) == len(set(keys)), "no line twice"


def _wait_for(check, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
