"""Benchmark: time to the first log line, and from a new line to the browser.

Sets up a throw-away data dir (SQLite, migrated), an instant-mode kubesim in
this process, and N workflows with one nginx Deployment each, deployed by
the run engine. Then, through the real logs consumer (the ASGI application,
driven by WebsocketCommunicator with a signed-in session cookie):

1. time to first line: from opening the logs WebSocket of a node to its
   first "lines" message, for each workflow one after the other;
2. new line delay: with all N followers open at once, the clock is moved
   10 s (nginx logs a probe line every 10 s) and the time until each
   follower has received that line is measured.

Prints median and p95 of each.

    PYTHONPATH=. .venv/bin/python bench/bench_logs.py [--workflows 50] [--rounds 3]
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time


def setup_django(data_dir: str) -> None:
    """Point the settings at a fresh data dir and migrate it."""
    os.environ["KUBEORCH_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubeorch.settings")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def deploy_workflows(sim, count: int):
    """Create a user, a cluster and `count` deployed workflows; return them."""
    from django.contrib.auth import get_user_model

    from clusters.connection import connect
    from clusters.models import Cluster
    from runs import engine
    from workflows import actions
    from workflows.ordering import apply_levels
    from workflows.render import render_canvas

    user = get_user_model().objects.create_user("bench", password="bench-pw-1")
    cluster = Cluster(
        name="sim", owner=user, auth_method="kubeconfig", is_simulated=True
    )
    cluster.set_credentials({"kubeconfig": sim.kubeconfig()})
    cluster.save()
    workflows = []
    for index in range(count):
        node = {
            "id": "web",
            "type": "deployment",
            "position": {"x": 0, "y": 0},
            "data": {"name": f"web{index:02d}", "image": "nginx:1.27", "replicas": 1},
        }
        workflow = actions.create_workflow(user, name=f"w{index}", cluster=cluster)
        actions.save_canvas(workflow.pk, nodes=[node], edges=[], base_revision=None)
        workflow.refresh_from_db()
        rendered = render_canvas(
            workflow.nodes,
            [],
            workflow_id=str(workflow.pk),
            namespace="default",
            reveal=lambda token: token,
        )
        with connect(cluster) as api_client:
            engine.deploy(
                api_client,
                workflow_id=str(workflow.pk),
                rendered=rendered,
                levels=apply_levels(workflow.nodes, []),
                observer=_Quiet(),
                options=engine.DeployOptions(health_deadline=30),
            )
        workflows.append(workflow)
    return user, workflows


class _Quiet:
    def node_state(self, *args, **kwargs):
        pass

    def log(self, level, message):
        pass

    def should_stop(self):
        return False


def session_headers(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return [
        (b"cookie", f"sessionid={cookie}".encode()),
        (b"origin", b"http://127.0.0.1"),
    ]


async def first_line_times(workflows, headers) -> list[float]:
    """Open each node's logs WebSocket and time its first batch of lines."""
    from channels.testing import WebsocketCommunicator

    from kubeorch.asgi import application

    times = []
    for workflow in workflows:
        started = time.perf_counter()
        communicator = WebsocketCommunicator(
            application,
            f"/ws/workflows/{workflow.pk}/nodes/web/logs?tail=10",
            headers=headers,
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        message = json.loads(await communicator.receive_from(timeout=10))
        times.append(time.perf_counter() - started)
        assert message["type"] == "lines" and message["lines"]
        await communicator.disconnect()
    return times


async def new_line_delays(sim, workflows, headers, rounds: int) -> list[float]:
    """With every follower open, time a new line from kubesim to each one."""
    from channels.testing import WebsocketCommunicator

    from kubeorch.asgi import application

    followers = []
    for workflow in workflows:
        communicator = WebsocketCommunicator(
            application,
            f"/ws/workflows/{workflow.pk}/nodes/web/logs?tail=1",
            headers=headers,
        )
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        await communicator.receive_from(timeout=10)
        followers.append(communicator)
    delays = []
    for _ in range(rounds):
        changed = time.perf_counter()
        await asyncio.to_thread(sim.advance, 10)
        arrivals = await asyncio.gather(*(_next_probe(c, changed) for c in followers))
        delays.extend(arrivals)
    for communicator in followers:
        await communicator.disconnect()
    return delays


async def _next_probe(communicator, changed: float) -> float:
    while True:
        message = json.loads(await communicator.receive_from(timeout=10))
        if any("GET / HTTP/1.1" in line["text"] for line in message["lines"]):
            return time.perf_counter() - changed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def report(title: str, values: list[float]) -> None:
    median = statistics.median(values) * 1000
    p95 = percentile(values, 0.95) * 1000
    print(f"{title}: median {median:.1f} ms, p95 {p95:.1f} ms ({len(values)} samples)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeorch-bench-logs-") as data_dir:
        setup_django(data_dir)
        from kubesim.sim import KubeSim

        with KubeSim(mode="instant") as sim:
            started = time.perf_counter()
            user, workflows = deploy_workflows(sim, args.workflows)
            took = time.perf_counter() - started
            print(f"{len(workflows)} workflows deployed in {took:.1f} s")
            headers = session_headers(user)
            report(
                "time to first log line",
                asyncio.run(first_line_times(workflows, headers)),
            )
            report(
                f"new log line to the WebSocket ({args.workflows} followers)",
                asyncio.run(new_line_delays(sim, workflows, headers, args.rounds)),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
