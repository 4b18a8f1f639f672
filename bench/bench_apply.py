"""Benchmark: deploy a 100-node workflow, and the same manifests with kubectl.

Both clients talk to one kubesim, started here as a separate process in
instant mode, reset before every measured apply, so each apply starts from
the same empty cluster. Prints the median of each measurement and the ratio
KubeOrch / kubectl.

    PYTHONPATH=. .venv/bin/python bench/bench_apply.py [--apps 20] [--repeat 5]
"""

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from kubernetes import config

from bench.common import QuietObserver, Simulator
from runs import engine
from workflows.ordering import apply_levels, dependencies
from workflows.render import render_canvas

NAMESPACE = "bench"


def app_nodes(index: int) -> tuple[list[dict], list[dict]]:
    """Five nodes of one small app: config, deployment, service, ingress, HPA."""
    name = f"app{index:02d}"
    ids = {part: f"{name}-{part}" for part in ("cfg", "web", "svc", "ing", "hpa")}
    nodes = [
        {
            "id": ids["cfg"],
            "type": "configmap",
            "position": {"x": 0, "y": index * 100},
            "data": {"name": f"{name}-config", "data": {"LOG_LEVEL": "info"}},
        },
        {
            "id": ids["web"],
            "type": "deployment",
            "position": {"x": 200, "y": index * 100},
            "data": {
                "name": name,
                "image": "nginx:1.27",
                "replicas": 2,
                "containerPorts": [{"name": "http", "containerPort": 80}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            },
        },
        {
            "id": ids["svc"],
            "type": "service",
            "position": {"x": 400, "y": index * 100},
            "data": {
                "name": name,
                "type": "ClusterIP",
                "ports": [{"name": "http", "port": 80}],
            },
        },
        {
            "id": ids["ing"],
            "type": "ingress",
            "position": {"x": 600, "y": index * 100},
            "data": {
                "name": name,
                "host": f"{name}.example.com",
                "paths": [{"path": "/", "pathType": "Prefix"}],
            },
        },
        {
            "id": ids["hpa"],
            "type": "hpa",
            "position": {"x": 200, "y": index * 100 + 50},
            "data": {
                "name": name,
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilization": 70,
            },
        },
    ]
    edges = [
        {
            "id": f"{name}-e1",
            "source": ids["svc"],
            "target": ids["web"],
            "sourceHandle": "out",
            "targetHandle": "in",
        },
        {
            "id": f"{name}-e2",
            "source": ids["ing"],
            "target": ids["svc"],
            "sourceHandle": "path-0",
            "targetHandle": "in",
        },
        {
            "id": f"{name}-e3",
            "source": ids["hpa"],
            "target": ids["web"],
            "sourceHandle": "out",
            "targetHandle": "in",
        },
        {
            "id": f"{name}-e4",
            "source": ids["cfg"],
            "target": ids["web"],
            "sourceHandle": "out",
            "targetHandle": "in",
            "data": {"mode": "volume", "mountPath": "/etc/config"},
        },
    ]
    return nodes, edges


def build_canvas(apps: int) -> tuple[list[dict], list[dict]]:
    nodes, edges = [], []
    for index in range(apps):
        app_node_list, app_edge_list = app_nodes(index)
        nodes += app_node_list
        edges += app_edge_list
    return nodes, edges


def time_kubeorch(sim, nodes, edges, *, wait_for_health: bool) -> float:
    api_client = config.new_client_from_config(config_file=str(sim.kubeconfig))
    workflow_id = str(uuid.uuid4())
    started = time.perf_counter()
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=workflow_id,
        namespace=NAMESPACE,
        reveal=lambda token: token,
    )
    result = engine.deploy(
        api_client,
        workflow_id=workflow_id,
        rendered=rendered,
        levels=apply_levels(nodes, edges),
        depends_on=dependencies(nodes, edges),
        observer=QuietObserver(),
        options=engine.DeployOptions(
            wait_for_health=wait_for_health, poll_interval=0.05
        ),
    )
    elapsed = time.perf_counter() - started
    api_client.close()
    if result.status != "completed":
        raise RuntimeError(f"KubeOrch deploy ended {result.status}: {result.message}")
    return elapsed


def manifests_file(nodes, edges, workdir: Path) -> Path:
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=str(uuid.uuid4()),
        namespace=NAMESPACE,
        reveal=lambda token: token,
    )
    documents = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    ]
    documents += [manifest for node in rendered for manifest in node.manifests]
    path = workdir / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def time_kubectl(sim, manifests: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(sim.kubeconfig),
            "apply",
            "--server-side",
            "--field-manager",
            "kubectl-bench",
            "-f",
            str(manifests),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return time.perf_counter() - started


def measure(sim, nodes, edges, manifests, repeat: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {
        "kubeorch_apply": [],
        "kubectl_apply": [],
        "kubeorch_run": [],
    }
    for round_number in range(repeat):
        # Alternate who goes first so warm caches favour neither.
        order = ["kubectl", "kubeorch"] if round_number % 2 else ["kubeorch", "kubectl"]
        for who in order:
            sim.reset()
            if who == "kubectl":
                times["kubectl_apply"].append(time_kubectl(sim, manifests))
            else:
                times["kubeorch_apply"].append(
                    time_kubeorch(sim, nodes, edges, wait_for_health=False)
                )
        sim.reset()
        times["kubeorch_run"].append(
            time_kubeorch(sim, nodes, edges, wait_for_health=True)
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=20, help="5 nodes per app")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON too")
    args = parser.parse_args()

    nodes, edges = build_canvas(args.apps)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sim = Simulator(workdir)
        try:
            manifests = manifests_file(nodes, edges, workdir)
            object_count = sum(1 for _ in yaml.safe_load_all(manifests.read_text()))
            times_kubeorch_warmup = time_kubeorch(
                sim, nodes, edges, wait_for_health=False
            )
            del times_kubeorch_warmup
            times = measure(sim, nodes, edges, manifests, args.repeat)
        finally:
            sim.stop()
    report(len(nodes), object_count, times, args.json)


def report(node_count: int, object_count: int, times: dict, as_json: bool) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["kubeorch_apply"] / medians["kubectl_apply"]
    print(f"workflow: {node_count} nodes, {object_count} objects (namespace included)")
    print(f"kubectl apply --server-side     median {medians['kubectl_apply']:.3f} s")
    print(f"KubeOrch render + apply + prune median {medians['kubeorch_apply']:.3f} s")
    print(f"KubeOrch full run (with health) median {medians['kubeorch_run']:.3f} s")
    print(f"ratio KubeOrch / kubectl (apply): {ratio:.2f}x (target <= 1.5x)")
    if as_json:
        print(json.dumps({"medians_s": medians, "ratio": ratio, "samples": times}))


if __name__ == "__main__":
    main()
