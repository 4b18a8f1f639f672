"""The order to apply a canvas in: levels of nodes, each level in parallel.

Nodes are levelled by kind tier (config and storage, workloads, services,
ingresses, autoscalers, policies; the engine creates namespaces before all),
then pushed later where an edge says they depend on another node, so a node
never precedes what it needs. Levels are sorted by node id.
"""

from collections import defaultdict

from workflows.kinds import KINDS, rule_for


def apply_levels(nodes: list[dict], edges: list[dict]) -> list[list[str]]:
    """Return node ids in levels; every node of a level can go at once.

    Raises ValueError for an unknown node type or a dependency cycle.
    """
    types = {node["id"]: node["type"] for node in nodes}
    for node_id, node_type in types.items():
        if node_type not in KINDS:
            raise ValueError(f"node {node_id!r} has unknown type {node_type!r}")
    needs = dependencies(nodes, edges)
    levels = _levels(types, needs)
    by_level: dict[int, list[str]] = defaultdict(list)
    for node_id, level in levels.items():
        by_level[level].append(node_id)
    return [sorted(by_level[level]) for level in sorted(by_level)]


def dependencies(nodes: list[dict], edges: list[dict]) -> dict[str, set[str]]:
    """Return, per node id, the ids of the nodes it depends on (from edges).

    The engine uses it to skip only the dependents of a node that failed.
    """
    types = {node["id"]: node["type"] for node in nodes}
    needs: dict[str, set[str]] = {node_id: set() for node_id in types}
    for edge in edges:
        source, target = edge.get("source"), edge.get("target")
        if source not in types or target not in types:
            continue
        rule = rule_for(types[source], types[target])
        if rule is None:
            continue
        first, then = (source, target) if rule.first == "source" else (target, source)
        needs[then].add(first)
    return needs


def _levels(types: dict[str, str], needs: dict[str, set[str]]) -> dict[str, int]:
    """Give each node the larger of its tier and one past its dependencies."""
    levels: dict[str, int] = {}
    waiting = {node_id: len(deps) for node_id, deps in needs.items()}
    dependents: dict[str, list[str]] = defaultdict(list)
    for node_id, deps in needs.items():
        for dep in deps:
            dependents[dep].append(node_id)
    ready = sorted(node_id for node_id, count in waiting.items() if count == 0)
    while ready:
        node_id = ready.pop()
        tier = KINDS[types[node_id]].tier
        levels[node_id] = max([tier, *(levels[dep] + 1 for dep in needs[node_id])])
        for dependent in dependents[node_id]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    if len(levels) != len(types):
        stuck = sorted(set(types) - set(levels))
        raise ValueError(f"the edges form a cycle among {', '.join(stuck)}")
    return levels
