"""Pod logs: text/plain, container choice, tail, timestamps, previous and follow."""

import re
import threading

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from .helpers import eventually

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


def _pod(name: str, containers: list[tuple[str, str]]) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(name=n, image=image) for n, image in containers
            ]
        ),
    )


def _running(core, namespace, name):
    def started():
        pod = core.read_namespaced_pod(name, namespace)
        statuses = pod.status.container_statuses or []
        return pod.status.phase == "Running" and all(s.state.running for s in statuses)

    assert eventually(started, timeout=120)


@pytest.fixture
def web_pod(core, namespace):
    core.create_namespaced_pod(namespace, _pod("web", [("web", "nginx:1.27")]))
    _running(core, namespace, "web")
    return "web"


def test_logs_are_plain_text_lines(raw, namespace, web_pod):
    response = raw(
        "GET", f"/api/v1/namespaces/{namespace}/pods/{web_pod}/log", accept="*/*"
    )

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert isinstance(response.body, str) and response.body.endswith("\n")


def test_tail_lines_and_timestamps(core, namespace, web_pod):
    full = core.read_namespaced_pod_log(web_pod, namespace)
    tail = core.read_namespaced_pod_log(web_pod, namespace, tail_lines=2)
    stamped = core.read_namespaced_pod_log(
        web_pod, namespace, tail_lines=2, timestamps=True
    )

    assert tail.splitlines() == full.splitlines()[-2:]
    lines = stamped.splitlines()
    assert len(lines) == 2
    assert all(STAMP.match(line) for line in lines)
    assert [STAMP.sub("", line) for line in lines] == tail.splitlines()


def test_since_seconds_limits_to_recent_lines(core, namespace, web_pod):
    recent = core.read_namespaced_pod_log(web_pod, namespace, since_seconds=3600)
    full = core.read_namespaced_pod_log(web_pod, namespace)

    assert recent == full


def test_unknown_container_is_400(core, namespace, web_pod):
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(web_pod, namespace, container="nope")

    assert caught.value.status == 400


def test_several_containers_need_a_choice(core, namespace):
    core.create_namespaced_pod(
        namespace, _pod("pair", [("a", "nginx:1.27"), ("b", "busybox:1.36")])
    )
    _running(core, namespace, "pair")

    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("pair", namespace)
    chosen = core.read_namespaced_pod_log("pair", namespace, container="a")

    assert caught.value.status == 400
    assert isinstance(chosen, str)


def test_previous_without_a_restart_is_400(core, namespace, web_pod):
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(web_pod, namespace, previous=True)

    assert caught.value.status == 400


def test_logs_of_a_missing_pod_are_404(core, namespace):
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("ghost", namespace)

    assert caught.value.status == 404


def test_follow_streams_and_ends_when_the_pod_goes(core, namespace, web_pod):
    response = core.read_namespaced_pod_log(
        web_pod, namespace, follow=True, _preload_content=False
    )
    first = response.readline()
    rest = []

    def drain():
        rest.append(response.read())

    reader = threading.Thread(target=drain)
    reader.start()
    core.delete_namespaced_pod(web_pod, namespace, grace_period_seconds=0)
    reader.join(timeout=30)

    assert first.endswith(b"\n")
    assert not reader.is_alive(), (
        "the follow stream did not end after the pod was deleted"
    )
    response.release_conn()
