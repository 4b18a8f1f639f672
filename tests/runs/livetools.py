"""Canvases and helpers for the live tests: deploy a workflow to kubesim.

Deployments go through the product's own path: a published workflow,
`runs.actions.start_run`, and `execute_run` (called here, or by a real
Celery worker when the test has one).
"""

import copy
import time

from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from clusters.models import Cluster
from runs import actions
from runs.models import Run
from tests.factories import make_cluster, make_workflow

SESSION_SECRET = "s3ss10n-k3y-f0r-t3sts"
ORIGIN = (b"origin", b"http://127.0.0.1")


def web_node(**data) -> dict:
    """A Deployment node running nginx, with a port and a sensitive env value."""
    return {
        "id": "web",
        "type": "deployment",
        "position": {"x": 400, "y": 100},
        "data": {
            "name": "web",
            "image": "nginx:1.27",
            "replicas": 2,
            "labels": {"app": "shop"},
            "containerPorts": [{"name": "http", "containerPort": 80}],
            "env": [
                {"name": "APP_ENV", "value": "production"},
                {"name": "SESSION_SECRET", "value": SESSION_SECRET, "sensitive": True},
            ],
            "resources": {
                "requests": {"cpu": "100m", "memory": "64Mi"},
                "limits": {"memory": "256Mi"},
            },
            **data,
        },
    }


def canvas(*nodes: dict, edges: list[dict] | None = None) -> dict:
    """A canvas of the given nodes (deep-copied) and edges."""
    return {"nodes": copy.deepcopy(list(nodes)), "edges": copy.deepcopy(edges or [])}


def edge(source: str, target: str, source_handle: str = "out", **data) -> dict:
    """An edge from source to target."""
    found = {
        "id": f"{source}-to-{target}",
        "source": source,
        "target": target,
        "sourceHandle": source_handle,
        "targetHandle": "in",
    }
    if data:
        found["data"] = data
    return found


def published(owner, kubeconfig_text, nodes_and_edges: dict, name="shop"):
    """A published workflow on the owner's kubesim cluster (made once)."""
    cluster = Cluster.objects.filter(owner=owner, name="sim").first()
    cluster = cluster or make_cluster(owner, kubeconfig_text)
    return make_workflow(
        owner, cluster, canvas=nodes_and_edges, state="published", name=name
    )


def deploy_now(workflow, owner) -> Run:
    """Run a published workflow in this process and return the finished run."""
    run = actions.start_run(workflow.pk, triggered_by=Run.Trigger.MANUAL, user=owner)
    actions.execute_run(run.pk)
    run.refresh_from_db()
    return run


def wait_for_run(run_id, timeout: float = 60.0) -> Run:
    """Wait for a run a Celery worker executes to finish."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=run_id)
        if run.is_finished():
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still running after {timeout} s")


def session_headers(user) -> list[tuple[bytes, bytes]]:
    """Headers of a browser signed in as user: its session cookie and origin."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    assert SessionStore(session_key=cookie).exists(cookie)
    return [(b"cookie", f"sessionid={cookie}".encode()), ORIGIN]
