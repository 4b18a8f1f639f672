"""Benchmark: from a change in kubesim to the node.status message, 50 workflows.

Sets up a throw-away data dir (SQLite, migrated), an embedded Valkey (the
channel layer and the leases), kubesim in instant mode in its own process,
and N workflows (a Deployment and its Service each) deployed by real runs.
Then starts `manage.py watch` as its own process, as `make run` does, and
listens on the channel-layer groups of every workflow from this process.

Measured: the time to the arrival of the node.status message showing the
new replica count ready, from just before the scale request is sent, and
from kubesim's answer (in instant mode it answers once its controllers have
moved the pods, so that is when the change happened); first one change at
a time, then N changes at once (where kubesim itself takes a while to get
through the requests), then one at a time again with an editor WebSocket
open on every workflow (the real consumer behind kubeorch.asgi, in this
process), timed to the frame on the socket. Prints median, p95 and max.

    PYTHONPATH=. .venv/bin/python bench/bench_live.py [--workflows 50] [--changes 100]
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def setup_django(data_dir: str, redis_url: str) -> None:
    """Point the settings at a fresh data dir and Redis, and migrate."""
    os.environ["KUBEORCH_DATA_DIR"] = data_dir
    os.environ["REDIS_URL"] = redis_url
    os.environ["KUBEORCH_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubeorch.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def start_kubesim(workdir: Path) -> tuple[subprocess.Popen, Path]:
    """Run kubesim in instant mode in its own process; return it and its kubeconfig."""
    from kubeorch.embedded import free_port

    kubeconfig = workdir / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "serve", "--mode", "instant",
         "--port", str(free_port()), "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, text=True, cwd=BASE_DIR,
    )  # fmt: skip
    process.stdout.readline()
    return process, kubeconfig


def canvas(index: int) -> dict:
    """A Deployment with one replica and the Service that selects it."""
    name = f"web{index:02d}"
    return {
        "nodes": [
            {"id": "web", "type": "deployment", "position": {"x": 0, "y": 0},
             "data": {"name": name, "image": "nginx:1.27", "replicas": 1,
                      "containerPorts": [{"name": "http", "containerPort": 80}]}},
            {"id": "web-svc", "type": "service", "position": {"x": 300, "y": 0},
             "data": {"name": name, "type": "ClusterIP",
                      "ports": [{"name": "http", "port": 80}]}},
        ],
        "edges": [
            {"id": "svc-to-web", "source": "web-svc", "target": "web",
             "sourceHandle": "out", "targetHandle": "in"},
        ],
    }  # fmt: skip


def deploy_workflows(kubeconfig: Path, count: int) -> tuple:
    """Create `count` published workflows and run each; return user and them."""
    from django.contrib.auth import get_user_model

    from clusters.models import Cluster
    from runs.actions import execute_run, start_run
    from workflows import actions

    user = get_user_model().objects.create_user("bench", password="bench-pw-1")
    cluster = Cluster(name="sim", owner=user, auth_method="kubeconfig")
    cluster.set_credentials({"kubeconfig": kubeconfig.read_text()})
    cluster.save()
    workflows = []
    for index in range(count):
        workflow = actions.create_workflow(user, name=f"w{index}", cluster=cluster)
        drawn = canvas(index)
        actions.save_canvas(
            workflow.pk, nodes=drawn["nodes"], edges=drawn["edges"], base_revision=None
        )
        actions.move_workflow(workflow.pk, "published")
        run = start_run(workflow.pk, triggered_by="manual")
        execute_run(run.pk)
        workflows.append(workflow)
    return user, workflows


def signed_in(user) -> list[tuple[bytes, bytes]]:
    """Return the headers of a browser signed in as the user."""
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    cookie = browser.cookies["sessionid"].value
    return [
        (b"cookie", f"sessionid={cookie}".encode()),
        (b"origin", b"http://127.0.0.1"),
    ]


def start_watcher(data_dir: str, redis_url: str) -> subprocess.Popen:
    """Run `manage.py watch` as its own process."""
    env = {**os.environ, "KUBEORCH_DATA_DIR": data_dir, "REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "manage.py", "watch", "--replica-id", "bench"],
        cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def wait_until_all_healthy(workflows, timeout: float = 60.0) -> float:
    """Wait until the watcher stored every node healthy; return the seconds."""
    from runs.models import NodeStatus

    started = time.perf_counter()
    wanted = 2 * len(workflows)
    while NodeStatus.objects.filter(state="healthy").count() < wanted:
        if time.perf_counter() - started > timeout:
            raise SystemExit("the watcher did not report every node healthy in time")
        time.sleep(0.1)
    return time.perf_counter() - started


class Listener:
    """Every node.status of the watched workflows, with its arrival time."""

    def __init__(self, layer, workflow_ids: list[str]) -> None:
        self.layer = layer
        self.workflow_ids = workflow_ids
        self.arrivals: list[tuple[float, dict]] = []
        self._channel = None

    async def join(self) -> None:
        """Join every workflow's group with one channel."""
        from runs import live

        self._channel = await self.layer.new_channel()
        for workflow_id in self.workflow_ids:
            await self.layer.group_add(live.group_for(workflow_id), self._channel)

    async def listen(self) -> None:
        """Record every message with the time it arrived."""
        while True:
            message = await self.layer.receive(self._channel)
            self.arrivals.append((time.perf_counter(), message))

    async def wait_for(self, workflow_id: str, replicas: int, since: float) -> float:
        """Return when `web` of a workflow was first seen with `replicas` ready."""
        while True:
            for arrived, message in self.arrivals:
                data = message["data"]
                if (
                    arrived >= since
                    and message["type"] == "node.status"
                    and data["workflow_id"] == workflow_id
                    and data["node_id"] == "web"
                    and data["state"] == "healthy"
                    and data["desired"] == replicas
                ):
                    return arrived
            await asyncio.sleep(0.001)


def scaler(kubeconfig: Path):
    """Return a function that scales the web Deployment of workflow `index`."""
    from kubernetes import client, config

    apps = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))

    def scale(index: int, replicas: int) -> tuple[float, float]:
        sent = time.perf_counter()
        apps.patch_namespaced_deployment_scale(
            f"web{index:02d}", "default", {"spec": {"replicas": replicas}}
        )
        # In instant mode kubesim answers once its controllers have settled.
        return sent, time.perf_counter()

    return scale


async def one_at_a_time(listener, workflows, scale, changes: int) -> list[tuple]:
    """Scale one workflow after the other; return (sent, answered, arrived)."""
    loop = asyncio.get_running_loop()
    replicas = dict.fromkeys(range(len(workflows)), 1)
    times = []
    for change in range(changes):
        index = change % len(workflows)
        replicas[index] = 3 - replicas[index]  # 1 -> 2 -> 1 ...
        sent, answered = await loop.run_in_executor(None, scale, index, replicas[index])
        arrived = await asyncio.wait_for(
            listener.wait_for(str(workflows[index].pk), replicas[index], sent), 30
        )
        times.append((sent, answered, arrived))
    return times


async def all_at_once(listener, workflows, scale, replicas: int) -> list[tuple]:
    """Scale every workflow at the same moment; return (sent, answered, arrived)."""
    loop = asyncio.get_running_loop()
    indexes = range(len(workflows))
    answers = await asyncio.gather(
        *(loop.run_in_executor(None, scale, i, replicas) for i in indexes)
    )
    arrived = await asyncio.wait_for(
        asyncio.gather(
            *(
                listener.wait_for(str(workflows[i].pk), replicas, answers[i][0])
                for i in indexes
            )
        ),
        60,
    )
    return [(*answer, a) for answer, a in zip(answers, arrived, strict=True)]


async def through_websockets(workflows, headers, scale, changes: int) -> list[tuple]:
    """With one editor WebSocket per workflow open, scale one after the other."""
    from channels.testing import WebsocketCommunicator

    from kubeorch.asgi import application

    sockets = []
    for workflow in workflows:
        socket = WebsocketCommunicator(
            application, f"/ws/workflows/{workflow.pk}/", headers=headers
        )
        await socket.connect()
        await socket.receive_json_from(timeout=10)  # the snapshot
        sockets.append(socket)
    loop = asyncio.get_running_loop()
    times = []
    for change in range(changes):
        index = change % len(workflows)
        replicas = 4 + change // len(workflows) % 2  # 4, then 5, then 4...
        sent, answered = await loop.run_in_executor(None, scale, index, replicas)
        while True:
            frame = await sockets[index].receive_json_from(timeout=30)
            data = frame["data"]
            if (
                frame["type"] == "node.status"
                and data["node_id"] == "web"
                and (
                    data["state"],
                    data["desired"],
                )
                == ("healthy", replicas)
            ):
                break
        times.append((sent, answered, time.perf_counter()))
    for socket in sockets:
        await socket.disconnect()
    return times


async def measure(workflows, kubeconfig: Path, changes: int, headers) -> dict:
    """Run the measurements with one listener on every group."""
    from channels.layers import get_channel_layer

    listener = Listener(get_channel_layer(), [str(w.pk) for w in workflows])
    await listener.join()
    listening = asyncio.create_task(listener.listen())
    scale = scaler(kubeconfig)
    try:
        single = await one_at_a_time(listener, workflows, scale, changes)
        burst = []
        for replicas in (3, 1, 3):
            burst += await all_at_once(listener, workflows, scale, replicas)
        sockets = await through_websockets(workflows, headers, scale, changes)
    finally:
        listening.cancel()
    return {"single": single, "burst": burst, "sockets": sockets}


def report(title: str, times: list[tuple]) -> None:
    """Print the delays from the request and from kubesim's answer."""
    print(f"{title} ({len(times)} changes):")
    for start, label in ((0, "request sent"), (1, "kubesim answered")):
        delays = sorted((t[2] - t[start]) * 1000 for t in times)
        p95 = delays[max(0, round(0.95 * len(delays)) - 1)]
        print(
            f"  from {label:16} median {statistics.median(delays):4.0f} ms, "
            f"p95 {p95:4.0f} ms, max {delays[-1]:4.0f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    from kubeorch import embedded

    with tempfile.TemporaryDirectory(prefix="kubeorch-bench-live-") as data_dir:
        valkey, redis_url = embedded.start_valkey(Path(data_dir) / "valkey")
        kubesim, kubeconfig = start_kubesim(Path(data_dir))
        watcher = None
        try:
            setup_django(data_dir, redis_url)
            started = time.perf_counter()
            user, workflows = deploy_workflows(kubeconfig, args.workflows)
            headers = signed_in(user)
            print(
                f"{len(workflows)} workflows deployed in "
                f"{time.perf_counter() - started:.1f} s"
            )
            watcher = start_watcher(data_dir, redis_url)
            synced = wait_until_all_healthy(workflows)
            print(f"watcher started and reported every node healthy in {synced:.1f} s")
            delays = asyncio.run(measure(workflows, kubeconfig, args.changes, headers))
            report(
                "kubesim scale -> node.status, one change at a time", delays["single"]
            )
            report(
                f"kubesim scale -> node.status, {args.workflows} changes at once",
                delays["burst"],
            )
            report(
                f"kubesim scale -> WebSocket frame, {args.workflows} sockets open",
                delays["sockets"],
            )
        finally:
            if watcher is not None:
                watcher.send_signal(signal.SIGTERM)
                watcher.wait(timeout=30)
            kubesim.terminate()
            kubesim.wait(timeout=10)
            embedded.stop_all([valkey])
    return 0


if __name__ == "__main__":
    sys.exit(main())
