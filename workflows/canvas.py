"""Validate and normalize a canvas (nodes and edges) against the registry.

`normalize_canvas` is the one gate every save goes through. It returns
copies with defaults applied and every `_linked*` field recomputed from the
edges, or raises `CanvasInvalid` with errors per node, edge and field.

What is kept: a node's `id`, `type`, `position` and `data`; an edge's `id`,
`source`, `target`, `sourceHandle`, `targetHandle` and `data`. Other envelope
keys (UI state such as `selected`) are dropped. Inside `data`, keys starting
with "_" are dropped and recomputed; any other unknown key is an error.
"""

import logging
import re
from collections import defaultdict
from typing import Any

from workflows.kinds import KINDS, get_kind, rule_for, targets_of
from workflows.kinds.base import Identity, NodeKind
from workflows.kinds.edges import EdgeRule
from workflows.kinds.fields import Errors, clean_object
from workflows.kinds.graph import CanvasGraph

logger = logging.getLogger(__name__)

MAX_NODES = 2000
MAX_EDGES = 5000
NODE_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
EDGE_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,253}$")
VOLUME_EDGE_SOURCES = ("configmap", "secret", "persistentvolumeclaim")

__all__ = ["MAX_EDGES", "MAX_NODES", "CanvasGraph", "CanvasInvalid", "normalize_canvas"]


class CanvasInvalid(Exception):
    """A canvas failed validation; `.errors` says where and why."""

    def __init__(self, errors: dict) -> None:
        self.errors = errors
        super().__init__(_summary(errors))


class _Report:
    """Collect canvas errors in the shape the API returns."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, list[str]]] = {}
        self.edges: dict[str, dict[str, list[str]]] = {}
        self.canvas: list[str] = []
        self.invalid_nodes: set[str] = set()

    def node(self, node_id: str, path: str, message: str) -> None:
        self.nodes.setdefault(node_id, {}).setdefault(path, []).append(message)
        self.invalid_nodes.add(node_id)

    def node_errors(self, node_id: str, errors: dict[str, list[str]]) -> None:
        for path, messages in errors.items():
            for message in messages:
                self.node(node_id, path, message)

    def edge(self, edge_id: str, path: str, message: str) -> None:
        self.edges.setdefault(edge_id, {}).setdefault(path, []).append(message)

    def as_dict(self) -> dict:
        return {"nodes": self.nodes, "edges": self.edges, "canvas": self.canvas}

    def __bool__(self) -> bool:
        return bool(self.nodes or self.edges or self.canvas)


def normalize_canvas(
    nodes: Any, edges: Any, *, namespace: str | None = None
) -> tuple[list[dict], list[dict]]:
    """Return validated, defaulted copies of nodes and edges, or raise.

    namespace is the workflow's namespace, used to tell whether two nodes
    share one; without it, an empty namespace only matches another empty one.
    """
    report = _Report()
    _check_sizes(nodes, edges, report)
    clean_nodes = _clean_nodes(nodes, report)
    by_id = {node["id"]: node for node in clean_nodes}
    clean_edges = _clean_edges(edges, by_id, report)
    graph = CanvasGraph(clean_nodes, clean_edges)
    _check_graph(graph, report, namespace or "")
    if report:
        logger.debug(
            "canvas refused: %s node(s) and %s edge(s) with errors",
            len(report.nodes),
            len(report.edges),
        )
        raise CanvasInvalid(report.as_dict())
    _apply_links(graph)
    return clean_nodes, clean_edges


def _check_sizes(nodes: Any, edges: Any, report: _Report) -> None:
    if not isinstance(nodes, list):
        report.canvas.append("nodes must be a list.")
    elif len(nodes) > MAX_NODES:
        report.canvas.append(
            f"A canvas can have at most {MAX_NODES} nodes; this one has {len(nodes)}."
        )
    if not isinstance(edges, list):
        report.canvas.append("edges must be a list.")
    elif len(edges) > MAX_EDGES:
        report.canvas.append(
            f"A canvas can have at most {MAX_EDGES} edges; this one has {len(edges)}."
        )
    if report:
        raise CanvasInvalid(report.as_dict())


def _clean_nodes(nodes: list, report: _Report) -> list[dict]:
    cleaned: list[dict] = []
    seen: set[str] = set()
    for index, raw in enumerate(nodes):
        node = _clean_node(index, raw, seen, report)
        if node:
            seen.add(node["id"])
            cleaned.append(node)
    return cleaned


def _clean_node(index: int, raw: Any, seen: set[str], report: _Report) -> dict | None:
    if not isinstance(raw, dict):
        report.canvas.append(f"nodes[{index}] must be an object.")
        return None
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not NODE_ID_RE.match(node_id):
        report.canvas.append(
            f"nodes[{index}]: the id {node_id!r} must be 1-63 lower-case letters, "
            "digits "
            "and '-', starting and ending with a letter or digit."
        )
        return None
    if node_id in seen:
        report.node(
            node_id, "id", f"Two nodes use the id {node_id!r}; ids must be unique."
        )
        return None
    kind = get_kind(raw.get("type")) if isinstance(raw.get("type"), str) else None
    if kind is None:
        known = ", ".join(KINDS)
        report.node(
            node_id,
            "type",
            f"Unknown node type {raw.get('type')!r}; expected one of {known}.",
        )
        return None
    errors = Errors()
    position = _clean_position(raw.get("position"), errors)
    data = clean_object(kind.fields, _data_of(raw), errors)
    if not errors:
        errors.merge(kind.check(data))
    report.node_errors(node_id, errors.by_path)
    return {"id": node_id, "type": kind.key, "position": position, "data": data}


def _data_of(raw: dict) -> Any:
    return {} if raw.get("data") is None else raw["data"]


def _clean_position(position: Any, errors: Errors) -> dict:
    if position is None:
        return {"x": 0, "y": 0}
    if not isinstance(position, dict):
        errors.add("position", "Position must be an object with x and y.")
        return {"x": 0, "y": 0}
    cleaned = {}
    for axis in ("x", "y"):
        value = position.get(axis, 0)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or abs(value) > 1e9
        ):
            errors.add(f"position.{axis}", f"Position {axis} must be a number.")
            value = 0
        cleaned[axis] = value
    return cleaned


def _clean_edges(edges: list, nodes: dict[str, dict], report: _Report) -> list[dict]:
    cleaned: list[dict] = []
    seen: set[str] = set()
    for index, raw in enumerate(edges):
        edge = _clean_edge(index, raw, nodes, seen, report)
        if edge:
            cleaned.append(edge)
    return cleaned


def _clean_edge(
    index: int, raw: Any, nodes: dict[str, dict], seen: set[str], report: _Report
) -> dict | None:
    if not isinstance(raw, dict):
        report.canvas.append(f"edges[{index}] must be an object.")
        return None
    edge_id = _edge_id(raw)
    if not isinstance(edge_id, str) or not EDGE_ID_RE.match(edge_id):
        report.canvas.append(
            f"edges[{index}]: the id {edge_id!r} must be 1-253 letters, digits or "
            "'_.:@-'."
        )
        return None
    if edge_id in seen:
        report.edge(
            edge_id, "id", f"Two edges use the id {edge_id!r}; ids must be unique."
        )
        return None
    seen.add(edge_id)
    source, target = (
        _edge_end(raw, "source", nodes, edge_id, report),
        _edge_end(raw, "target", nodes, edge_id, report),
    )
    if not source or not target:
        return None
    if source["id"] == target["id"]:
        report.edge(edge_id, "target", "An edge cannot link a node to itself.")
        return None
    rule = rule_for(source["type"], target["type"])
    if rule is None:
        report.edge(edge_id, "target", _refusal(source, target))
        return None
    return _clean_linked_edge(edge_id, raw, rule, source, target, report)


def _edge_id(raw: dict) -> Any:
    if raw.get("id") is not None:
        return raw["id"]
    handle = raw.get("sourceHandle") or "out"
    return f"e-{raw.get('source')}-{handle}-{raw.get('target')}"


def _edge_end(
    raw: dict, end: str, nodes: dict[str, dict], edge_id: str, report: _Report
) -> dict | None:
    node_id = raw.get(end)
    if not isinstance(node_id, str) or not node_id:
        report.edge(edge_id, end, f"The edge needs a {end} node id.")
        return None
    if node_id not in nodes:
        report.edge(edge_id, end, f"No node has the id {node_id!r}.")
        return None
    return nodes[node_id]


def a_or_an(label: str) -> str:
    """Return the label with its indefinite article ("an Ingress")."""
    return f"{'an' if label[:1].lower() in 'aeiou' else 'a'} {label}"


def _refusal(source: dict, target: dict) -> str:
    source_kind, target_kind = KINDS[source["type"]], KINDS[target["type"]]
    allowed = [KINDS[key].label for key in targets_of(source["type"])]
    subject = a_or_an(source_kind.label).capitalize()
    if not allowed:
        return f"{subject} has no outgoing links."
    return (
        f"{subject} cannot link to {a_or_an(target_kind.label)}; "
        f"it can link to: {', '.join(dict.fromkeys(allowed))}."
    )


def _clean_linked_edge(
    edge_id: str, raw: dict, rule: EdgeRule, source: dict, target: dict, report: _Report
) -> dict | None:
    source_handle = _source_handle(
        raw.get("sourceHandle"), rule, source, edge_id, report
    )
    target_handle = raw.get("targetHandle") or rule.target_handle
    if target_handle != rule.target_handle:
        report.edge(
            edge_id, "targetHandle", f"The target port must be {rule.target_handle!r}."
        )
    errors = Errors()
    data = clean_object(rule.fields, _data_of(raw), errors, "data")
    for path, messages in errors.by_path.items():
        for message in messages:
            report.edge(edge_id, path, message)
    if source_handle is None:
        return None
    return {
        "id": edge_id,
        "source": source["id"],
        "target": target["id"],
        "sourceHandle": source_handle,
        "targetHandle": target_handle,
        "data": data,
    }


def _source_handle(
    handle: Any, rule: EdgeRule, source: dict, edge_id: str, report: _Report
) -> str | None:
    offered = [port.handle for port in KINDS[source["type"]].ports(source["data"])]
    if handle in (None, ""):
        if not rule.source_handle.endswith("*"):
            return rule.source_handle
        if len(offered) == 1:
            return offered[0]
        report.edge(
            edge_id,
            "sourceHandle",
            f"Choose which port of {source['id']!r} to link from: "
            f"{', '.join(offered)}.",
        )
        return None
    if (
        not isinstance(handle, str)
        or not rule.handle_matches(handle)
        or handle not in offered
    ):
        report.edge(
            edge_id,
            "sourceHandle",
            f"{source['id']!r} has no port {handle!r}; it has "
            f"{', '.join(offered) or 'none'}.",
        )
        return None
    return handle


def _check_graph(graph: CanvasGraph, report: _Report, namespace: str) -> None:
    _check_duplicate_edges(graph, report)
    _check_link_counts(graph, report)
    _check_cycles(graph, report)
    _check_namespaces(graph, report, namespace)
    _check_unique_names(graph, report, namespace)
    _check_mount_paths(graph, report)


def _check_duplicate_edges(graph: CanvasGraph, report: _Report) -> None:
    seen: dict[tuple, str] = {}
    for edge in graph.edges:
        key = (
            edge["source"],
            edge["sourceHandle"],
            edge["target"],
            edge["targetHandle"],
        )
        if key in seen:
            report.edge(
                edge["id"], "target", f"Edge {seen[key]!r} already links these ports."
            )
        seen.setdefault(key, edge["id"])


def _check_link_counts(graph: CanvasGraph, report: _Report) -> None:
    per_handle: dict[tuple, list[dict]] = defaultdict(list)
    per_target: dict[tuple, list[dict]] = defaultdict(list)
    for edge in graph.edges:
        rule = rule_for(graph.type_of(edge["source"]), graph.type_of(edge["target"]))
        per_handle[(rule, edge["source"], edge["sourceHandle"])].append(edge)
        per_target[(rule, edge["target"])].append(edge)
    for (rule, source_id, handle), linked in per_handle.items():
        if rule.max_per_source_handle and len(linked) > rule.max_per_source_handle:
            first = linked[0]["target"]
            for edge in linked[rule.max_per_source_handle :]:
                report.edge(
                    edge["id"],
                    "sourceHandle",
                    _one_link_message(graph, source_id, handle, first),
                )
    for (rule, target_id), linked in per_target.items():
        if rule.max_per_target and len(linked) > rule.max_per_target:
            first = linked[0]["source"]
            for edge in linked[rule.max_per_target :]:
                message = (
                    f"{target_id!r} is already scaled by {first!r}; a workload "
                    "takes one HPA."
                )
                report.edge(edge["id"], "target", message)


def _one_link_message(
    graph: CanvasGraph, source_id: str, handle: str, first: str
) -> str:
    kind = KINDS[graph.type_of(source_id)]
    if handle.startswith("path-"):
        return (
            f"Path port {handle!r} of {source_id!r} already leads to {first!r}; a "
            "path has one backend."
        )
    return (
        f"{a_or_an(kind.label).capitalize()} links to one workload; "
        f"{source_id!r} already links to "
        f"{first!r}."
    )


def _check_cycles(graph: CanvasGraph, report: _Report) -> None:
    # The edge table allows no cycle today; this guards future rules.
    state: dict[str, int] = {}
    for start in graph.nodes:
        cycle = _find_cycle(graph, start, state)
        if cycle:
            report.canvas.append(f"The edges form a cycle: {' → '.join(cycle)}.")
            return


def _find_cycle(
    graph: CanvasGraph, start: str, state: dict[str, int]
) -> list[str] | None:
    """Walk depth-first from start; return the node ids of a cycle found."""
    if state.get(start):
        return None
    state[start] = 1
    path = [start]
    stack = [(start, iter(graph.targets(start)))]
    while stack:
        node_id, children = stack[-1]
        child = next(children, None)
        if child is None:
            state[node_id] = 2
            stack.pop()
            path.pop()
            continue
        child_id = child[1]["id"]
        if state.get(child_id) == 1:
            return [*path[path.index(child_id) :], child_id]
        if not state.get(child_id):
            state[child_id] = 1
            path.append(child_id)
            stack.append((child_id, iter(graph.targets(child_id))))
    return None


def _namespace(node: dict, default: str) -> str:
    value = node["data"].get("namespace")
    return value if isinstance(value, str) and value else default


def _check_namespaces(graph: CanvasGraph, report: _Report, default: str) -> None:
    for edge in graph.edges:
        source, target = graph.nodes[edge["source"]], graph.nodes[edge["target"]]
        source_ns, target_ns = _namespace(source, default), _namespace(target, default)
        if source_ns != target_ns:
            shown = [ns or "(workflow namespace)" for ns in (source_ns, target_ns)]
            message = (
                f"{source['id']!r} is in namespace {shown[0]} and {target['id']!r} in "
                f"{shown[1]}: a link works only within one namespace."
            )
            report.edge(edge["id"], "target", message)


def _check_unique_names(graph: CanvasGraph, report: _Report, default: str) -> None:
    claimed: dict[tuple, str] = {}
    for node in graph.nodes.values():
        if node["id"] in report.invalid_nodes:
            continue
        for identity in KINDS[node["type"]].identities(node["data"]):
            key = _identity_key(identity, node, default)
            owner = claimed.setdefault(key, node["id"])
            if owner != node["id"]:
                where = f" in namespace {key[2]}" if key[2] else ""
                message = (
                    f"Node {owner!r} already makes a {identity.kind} named "
                    f"{identity.name!r}{where}."
                )
                report.node(node["id"], identity.path, message)


def _identity_key(identity: Identity, node: dict, default: str) -> tuple:
    namespace = _namespace(node, default) if identity.namespaced else None
    return (identity.group, identity.kind, namespace, identity.name)


def _check_mount_paths(graph: CanvasGraph, report: _Report) -> None:
    for node in graph.nodes.values():
        if (
            node["id"] in report.invalid_nodes
            or KINDS[node["type"]].group != "Workloads"
        ):
            continue
        used: dict[str, str] = {}
        for claim in node["data"].get("volumeClaimTemplates") or []:
            used.setdefault(claim["mountPath"], f"volume claim {claim['name']!r}")
        for edge, source in graph.sources(node["id"], *VOLUME_EDGE_SOURCES):
            if edge["data"].get("mode") == "env":
                continue
            path = edge["data"].get("mountPath")
            if not isinstance(path, str):
                continue
            if path in used:
                message = (
                    f"{path} is already used by {used[path]} on {node['id']!r}; "
                    "pick another mount path."
                )
                report.edge(edge["id"], "data.mountPath", message)
            used.setdefault(path, f"{source['type']} {source['id']!r}")


def _apply_links(graph: CanvasGraph) -> None:
    for node in graph.nodes.values():
        kind: NodeKind = KINDS[node["type"]]
        node["data"].update(kind.linked(node, graph))


def _summary(errors: dict) -> str:
    count = sum(len(paths) for paths in errors["nodes"].values())
    count += sum(len(paths) for paths in errors["edges"].values()) + len(
        errors["canvas"]
    )
    first = (
        errors["canvas"][:1]
        or [
            f"{node_id}.{path}: {messages[0]}"
            for node_id, paths in (*errors["nodes"].items(), *errors["edges"].items())
            for path, messages in list(paths.items())[:1]
        ][:1]
    )
    return f"canvas invalid ({count} problem(s)): {first[0] if first else ''}"
