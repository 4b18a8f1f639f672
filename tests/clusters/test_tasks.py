"""The periodic check of every cluster."""

import logging
import time

import pytest

from clusters import actions
from clusters.models import Cluster
from clusters.tasks import check_clusters_task
from kubesim.resources import NODE


def _register_dead(owner, url: str) -> Cluster:
    return actions.register_cluster(
        owner,
        name="dead",
        auth_method="token",
        credentials={"server": url, "token": "t"},
        test=False,
    )


@pytest.mark.django_db
def test_check_stores_every_clusters_status(
    owner, kubesim, sim_cluster, closed_port_url, caplog
):
    dead = _register_dead(owner, closed_port_url)
    caplog.set_level(logging.INFO, logger="clusters")

    counts = check_clusters_task()

    assert counts == {"checked": 2, "reachable": 1, "unreachable": 1}
    sim_cluster.refresh_from_db()
    dead.refresh_from_db()
    assert sim_cluster.reachable is True
    assert sim_cluster.node_count == kubesim.store.count(NODE)
    assert dead.reachable is False
    assert dead.last_error == f"{closed_port_url} refused the connection"
    assert f"cluster {dead.pk} is now unreachable" in caplog.text


@pytest.mark.django_db
def test_dead_clusters_are_checked_in_parallel(owner, silent_server, settings):
    settings.KUBEORCH_KUBE_TIMEOUT = 1
    for index in range(4):
        actions.register_cluster(
            owner,
            name=f"silent-{index}",
            auth_method="token",
            credentials={"server": silent_server.url, "token": "t"},
            test=False,
        )

    started = time.monotonic()
    counts = check_clusters_task()

    assert counts["unreachable"] == 4
    assert time.monotonic() - started < 3


def test_task_runs_on_a_real_worker(celery_worker, owner, closed_port_url):
    dead = _register_dead(owner, closed_port_url)

    check_clusters_task.delay()

    # The product keeps no task results: wait for the row the task writes.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        dead.refresh_from_db()
        if dead.last_checked_at is not None:
            break
        time.sleep(0.1)
    assert dead.last_checked_at is not None
    assert dead.reachable is False
