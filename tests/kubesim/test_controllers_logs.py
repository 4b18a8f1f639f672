"""Logs per image: start lines, lines that grow with the clock, previous runs."""

from __future__ import annotations

import pytest

from kubesim import errors
from kubesim import resources as r

from .test_controllers import deployment, running


@pytest.fixture
def realistic_kube():
    """A fresh simulated cluster in realistic mode, stepped by hand."""
    yield from running(realistic=True)


@pytest.fixture
def kube():
    """A fresh simulated cluster in instant mode."""
    yield from running()


def lines(kube, pod: dict, container: str = "app", previous: bool = False) -> list[str]:
    """Return the text of a container's log lines."""
    fresh = kube.get(r.POD, pod["metadata"]["name"])
    return [text for _, text in kube.manager.log_lines(fresh, container, previous)]


def test_nginx_prints_its_start_up_and_probe_requests(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="nginx:1.27.3", replicas=1))
    [pod] = kube.pods("web")

    first = lines(kube, pod)
    assert first[0].startswith("/docker-entrypoint.sh:")
    assert any(line.endswith(" [notice] 1#1: nginx/1.27.3") for line in first)

    kube.advance(35)

    later = lines(kube, pod)
    assert later[: len(first)] == first
    requests = [line for line in later if '"GET / HTTP/1.1" 200' in line]
    assert len(requests) == 3
    assert "kube-probe/1.32" in requests[0]


def test_postgres_says_it_is_ready(kube):
    kube.create(r.DEPLOYMENT, deployment("db", image="postgres:16", replicas=1))

    text = lines(kube, kube.pods("db")[0])

    assert text[-1].endswith(
        " UTC [1] LOG:  database system is ready to accept connections"
    )


def test_log_lines_are_timestamped_in_order(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=1))
    kube.advance(60)
    [pod] = kube.pods("web")

    entries = kube.manager.log_lines(pod, "app", False)

    times = [when for when, _ in entries]
    assert times == sorted(times)
    assert times[-1] <= kube.clock.now()


def test_shell_images_print_what_their_command_echoes(kube):
    kube.create(
        r.DEPLOYMENT,
        deployment(
            "sh",
            image="busybox:1.36",
            replicas=1,
            command=["sh", "-c", "echo hello from kubesim; sleep 1d"],
        ),
    )

    assert lines(kube, kube.pods("sh")[0]) == ["hello from kubesim"]


def test_a_crashloop_shows_its_last_run_now_and_as_previous(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="kubesim/crashloop", replicas=1))
    [pod] = kube.pods("web")

    current, previous = lines(kube, pod), lines(kube, pod, previous=True)

    assert "panic: dial tcp 10.96.0.20:5432: connect: connection refused" in previous
    assert current == previous


def test_an_oom_killed_run_shows_its_allocations(kube):
    kube.create(
        r.DEPLOYMENT,
        deployment(
            "hog",
            image="kubesim/memhog:256Mi",
            replicas=1,
            resources={"limits": {"memory": "64Mi"}},
        ),
    )

    text = lines(kube, kube.pods("hog")[0], previous=True)

    assert text[0] == "allocating memory in 16Mi chunks"
    assert text[-1] == "allocated 64Mi"


def test_a_running_container_has_no_previous_logs(kube):
    kube.create(r.DEPLOYMENT, deployment("web", replicas=1))

    with pytest.raises(errors.ApiError) as raised:
        lines(kube, kube.pods("web")[0], previous=True)

    assert raised.value.code == 400
    assert raised.value.message.startswith(
        'previous terminated container "app" in pod "web-'
    )


def test_a_container_that_never_started_has_no_logs(kube):
    kube.create(r.DEPLOYMENT, deployment("web", image="nginx:doesnotexist", replicas=1))

    with pytest.raises(errors.ApiError) as raised:
        lines(kube, kube.pods("web")[0])

    assert raised.value.code == 400
    assert raised.value.message.endswith(
        "is waiting to start: trying and failing to pull image"
    )


def test_realistic_logs_grow_with_the_clock(realistic_kube):
    kube = realistic_kube
    kube.create(r.DEPLOYMENT, deployment("api", image="ghcr.io/acme/api:1", replicas=1))
    kube.advance(3)
    [pod] = kube.pods("api")
    before = lines(kube, pod)

    kube.clock.advance(95)

    after = lines(kube, pod)
    assert after[: len(before)] == before
    assert len([line for line in after if "heartbeat" in line]) == 3
