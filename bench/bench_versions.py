"""Benchmark: compare two 500-node versions; dry-run a 100-node workflow.

The compare works on normalized canvases (as stored), the second one with
a tenth of its images changed, a few nodes removed and edges added, and a
Secret per app sealed again with Fernet (new tokens, same values: each is
unsealed and compared by clear text). The dry run talks to a kubesim
started here as a separate process in instant mode: against an empty
namespace (every node "create"), right after a deploy of the same workflow
(every node "unchanged"), and after editing one node. Prints the median of
each measurement.

    PYTHONPATH=. .venv/bin/python bench/bench_versions.py [--repeat 5]
"""

import argparse
import copy
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.fernet import Fernet
from kubernetes import client, config

from bench.common import QuietObserver, Simulator
from runs import engine
from runs.dry_run import DryRunOptions, dry_run
from workflows.canvas import normalize_canvas
from workflows.ordering import apply_levels, dependencies
from workflows.render import render_canvas
from workflows.versions import compare_canvases

NAMESPACE = "bench"


def app_canvas(index: int) -> tuple[list[dict], list[dict]]:
    """Five nodes of one app: config, secret, deployment, service, HPA."""
    name = f"app{index:03d}"
    ids = {part: f"{name}-{part}" for part in ("cfg", "sec", "web", "svc", "hpa")}

    def at(node_id, node_type, **data):
        return {
            "id": node_id,
            "type": node_type,
            "position": {"x": index * 10, "y": 0},
            "data": data,
        }

    nodes = [
        at(ids["cfg"], "configmap", name=f"{name}-config", data={"LOG": "info"}),
        at(ids["sec"], "secret", name=f"{name}-secret", data={"TOKEN": f"t-{index}"}),
        at(
            ids["web"],
            "deployment",
            name=name,
            image="nginx:1.27",
            replicas=1,
            containerPorts=[{"name": "http", "containerPort": 80}],
            env=[{"name": "MODE", "value": "live"}],
            resources={"requests": {"cpu": "10m", "memory": "16Mi"}},
        ),
        at(ids["svc"], "service", name=name, ports=[{"name": "http", "port": 80}]),
        at(
            ids["hpa"],
            "hpa",
            name=name,
            minReplicas=1,
            maxReplicas=3,
            targetCPUUtilization=70,
        ),
    ]

    def link(source, target, **data):
        built = {
            "id": f"{source}-{target}",
            "source": source,
            "target": target,
            "sourceHandle": "out",
            "targetHandle": "in",
        }
        return {**built, "data": data} if data else built

    edges = [
        link(ids["svc"], ids["web"]),
        link(ids["hpa"], ids["web"]),
        link(ids["cfg"], ids["web"], mode="volume", mountPath="/etc/config"),
    ]
    return nodes, edges


def build_canvas(apps: int) -> tuple[list[dict], list[dict]]:
    nodes, edges = [], []
    for index in range(apps):
        more_nodes, more_edges = app_canvas(index)
        nodes += more_nodes
        edges += more_edges
    return normalize_canvas(nodes, edges, namespace=NAMESPACE)


FERNET = Fernet(Fernet.generate_key())


def seal(value: str) -> str:
    """Seal as kubeorch.crypto does (a Fernet token), with a key of our own."""
    return "enc:" + FERNET.encrypt(value.encode()).decode()


def reveal(token: str) -> str:
    return FERNET.decrypt(token.removeprefix("enc:").encode()).decode()


def sealed(nodes: list[dict]) -> list[dict]:
    """Seal every Secret value; each call gives new tokens for the same values."""
    nodes = copy.deepcopy(nodes)
    for node in nodes:
        if node["type"] == "secret":
            node["data"]["data"] = {k: seal(v) for k, v in node["data"]["data"].items()}
    return nodes


def edited(nodes: list[dict], edges: list[dict]) -> tuple[list[dict], list[dict]]:
    """A tenth of the images changed, ten nodes removed, ten edges added."""
    nodes = copy.deepcopy(nodes)
    workloads = [n for n in nodes if n["type"] == "deployment"]
    for node in workloads[::10]:
        node["data"]["image"] = "nginx:1.28"
    removed = {n["id"] for n in nodes if n["type"] == "hpa"}
    removed = set(sorted(removed)[:10])
    nodes = [n for n in nodes if n["id"] not in removed]
    edges = [e for e in edges if e["source"] not in removed]
    secrets = [n for n in nodes if n["type"] == "secret"][:10]
    for secret, workload in zip(secrets, workloads, strict=False):
        edges.append(
            {
                "id": f"{secret['id']}-env",
                "source": secret["id"],
                "target": workload["id"],
                "sourceHandle": "out",
                "targetHandle": "in",
                "data": {"mode": "env"},
            }
        )
    return nodes, edges


def time_compare(apps: int, repeat: int) -> tuple[list[float], dict]:
    nodes, edges = build_canvas(apps)
    before = (sealed(nodes), edges)
    after_nodes, after_edges = edited(nodes, edges)
    after = (sealed(after_nodes), after_edges)
    times, summary = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        summary = compare_canvases(before, after, reveal=reveal)["summary"]
        times.append(time.perf_counter() - started)
    return times, summary


def time_dry_runs(apps: int, repeat: int) -> dict[str, list[float]]:
    nodes, edges = build_canvas(apps)
    workflow_id = str(uuid.uuid4())
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=workflow_id,
        namespace=NAMESPACE,
        reveal=lambda token: token,
    )
    changed_nodes = copy.deepcopy(nodes)
    next(n for n in changed_nodes if n["type"] == "deployment")["data"]["image"] = (
        "nginx:1.28"
    )
    changed = render_canvas(
        changed_nodes,
        edges,
        workflow_id=workflow_id,
        namespace=NAMESPACE,
        reveal=lambda token: token,
    )
    times: dict[str, list[float]] = {"empty": [], "unchanged": [], "one_edit": []}
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulator(Path(tmp))
        try:
            api_client = config.new_client_from_config(config_file=str(sim.kubeconfig))
            for _ in range(repeat):
                sim.reset()
                # With the namespace there, every object is read and dry-run.
                client.CoreV1Api(api_client).create_namespace(
                    {"metadata": {"name": NAMESPACE}}
                )
                times["empty"].append(
                    _timed_dry_run(api_client, workflow_id, rendered, "create")
                )
            engine.deploy(
                api_client,
                workflow_id=workflow_id,
                rendered=rendered,
                levels=apply_levels(nodes, edges),
                depends_on=dependencies(nodes, edges),
                observer=QuietObserver(),
                options=engine.DeployOptions(wait_for_health=False),
            )
            for _ in range(repeat):
                times["unchanged"].append(
                    _timed_dry_run(api_client, workflow_id, rendered, "unchanged")
                )
                times["one_edit"].append(
                    _timed_dry_run(api_client, workflow_id, changed, None)
                )
            api_client.close()
        finally:
            sim.stop()
    return times


def _timed_dry_run(api_client, workflow_id, rendered, expected) -> float:
    started = time.perf_counter()
    result = dry_run(
        api_client, workflow_id=workflow_id, rendered=rendered, options=DryRunOptions()
    )
    elapsed = time.perf_counter() - started
    actions = {node.action for node in result.nodes}
    if expected and actions != {expected}:
        raise RuntimeError(f"dry run expected {expected}, got {actions}")
    if expected is None and sum(n.action == "change" for n in result.nodes) != 1:
        raise RuntimeError("dry run after one edit should show one change")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON too")
    args = parser.parse_args()

    compare_times, summary = time_compare(apps=100, repeat=args.repeat)
    dry_times = time_dry_runs(apps=20, repeat=args.repeat)

    medians = {
        "compare_500_nodes": statistics.median(compare_times),
        **{
            f"dry_run_100_nodes_{k}": statistics.median(v) for k, v in dry_times.items()
        },
    }
    labels = {
        "compare_500_nodes": "compare two 500-node versions",
        "dry_run_100_nodes_empty": "dry run, 100 nodes, empty namespace",
        "dry_run_100_nodes_unchanged": "dry run, 100 nodes, all unchanged",
        "dry_run_100_nodes_one_edit": "dry run, 100 nodes, one node edited",
    }
    for key, label in labels.items():
        print(f"{label:<38} median {medians[key]:.3f} s")
    print(f"compare summary: {summary}")
    if args.json:
        print(
            json.dumps(
                {
                    "medians_s": medians,
                    "compare_samples": compare_times,
                    "dry_run_samples": dry_times,
                }
            )
        )


if __name__ == "__main__":
    main()
