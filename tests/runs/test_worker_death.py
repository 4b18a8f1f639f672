"""A worker killed in the middle of a run: the run ends failed, with a reason.

The worker is a real `celery worker` process, killed with SIGKILL while it
waits for the application to become healthy.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from kubeorch.celery import app as celery_app
from runs import actions
from runs.models import Run
from tests.factories import make_cluster, make_workflow
from tests.processes import database_url_for_children

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NEVER_READY = {
    "nodes": [
        {
            "id": "web",
            "type": "deployment",
            "position": {"x": 0, "y": 0},
            "data": {
                "name": "web",
                "image": "kubesim/unready",
                "replicas": 1,
                "containerPorts": [{"name": "http", "containerPort": 80}],
                "readinessProbe": {"type": "http", "path": "/"},
            },
        },
    ],
    "edges": [],
}


@pytest.fixture
def worker_process(redis_url):
    celery_app.control.purge()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_children(),
        "REDIS_URL": redis_url,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kubeorch",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def wait_until(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_a_run_whose_worker_is_killed_is_finished_as_failed(
    owner, kubeconfig_text, worker_process, settings
):
    cluster = make_cluster(owner, kubeconfig_text)
    workflow = make_workflow(owner, cluster, canvas=NEVER_READY, state="published")
    run = actions.start_run(workflow.pk, triggered_by="manual")
    wait_until(lambda: Run.objects.get(pk=run.pk).worker_started)
    wait_until(lambda: run.node_states.filter(state="progressing").exists())

    worker_process.send_signal(signal.SIGKILL)
    worker_process.wait(timeout=10)
    settings.KUBEORCH_RUN_HEARTBEAT_TIMEOUT = 1
    time.sleep(1.5)
    finished = actions.fail_abandoned_runs()

    run.refresh_from_db()
    assert finished == [run.pk]
    assert run.status == "failed"
    assert "stopped reporting" in run.summary
    assert run.completed_at is not None
    workflow.refresh_from_db()
    assert workflow.failure_count == 1
    assert actions.start_run(workflow.pk, triggered_by="manual").status == "running"
