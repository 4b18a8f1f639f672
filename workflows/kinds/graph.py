"""An index of a canvas: nodes by id and edges by endpoint."""

from collections import defaultdict


class CanvasGraph:
    """Look up nodes and the edges between them, in a stable order."""

    def __init__(self, nodes: list[dict], edges: list[dict]) -> None:
        self.nodes = {node["id"]: node for node in nodes}
        self.edges = edges
        self._outgoing: dict[str, list[dict]] = defaultdict(list)
        self._incoming: dict[str, list[dict]] = defaultdict(list)
        for edge in edges:
            self._outgoing[edge["source"]].append(edge)
            self._incoming[edge["target"]].append(edge)

    def type_of(self, node_id: str) -> str | None:
        """Return the registry key of a node, or None if it is not there."""
        node = self.nodes.get(node_id)
        return node["type"] if node else None

    def sources(self, node_id: str, *types: str) -> list[tuple[dict, dict]]:
        """Return (edge, source node) pairs of edges into node_id."""
        pairs = [(edge, self.nodes[edge["source"]]) for edge in self._incoming[node_id]]
        return _sorted(pairs, types)

    def targets(self, node_id: str, *types: str) -> list[tuple[dict, dict]]:
        """Return (edge, target node) pairs of edges out of node_id."""
        pairs = [(edge, self.nodes[edge["target"]]) for edge in self._outgoing[node_id]]
        return _sorted(pairs, types)

    def first_target(self, node_id: str, *types: str) -> tuple[dict, dict] | None:
        """Return the first (edge, target node) pair, or None."""
        pairs = self.targets(node_id, *types)
        return pairs[0] if pairs else None


def _sorted(
    pairs: list[tuple[dict, dict]], types: tuple[str, ...]
) -> list[tuple[dict, dict]]:
    # Sorted by node id so reordering edges on the canvas changes no manifest.
    chosen = [pair for pair in pairs if not types or pair[1]["type"] in types]
    return sorted(chosen, key=lambda pair: (pair[1]["id"], pair[0]["id"]))
