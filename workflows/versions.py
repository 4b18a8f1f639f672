"""Compare two canvases (nodes and edges added, removed, modified); export one.

Nodes and edges are matched by id. A modified node lists its changed fields
as paths from the node ("data.image", "data.env[name=APP_ENV].value") with
the value before and after. Fields starting with "_" (the `_linked*` ones)
are left out: the server computes them from the edges, which are compared on
their own. A node that only moved on the canvas is listed under "moved".

Sensitive values never leave: they are compared by their clear text (a
value sealed twice is still the same value) and shown as the mask on both
sides. `reveal` unseals a stored token; it is passed in so this module needs
no keys and no Django.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from workflows.kinds import get_kind
from workflows.kinds.base import MANAGED_BY, MASK
from workflows.kinds.fields import SEALED_PREFIX, sensitive_values
from workflows.render import YAML_DUMPER, namespaces_of, render_canvas, render_yaml
from workflows.rendered import RenderedNode
from workflows.secrets import reveal_masked

# A key that reads well after a dot; any other is written ["key"].
PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# List items carrying a unique value under this key are matched by it.
IDENTITY_KEY = "name"
EDGE_FIELDS = ("source", "target", "sourceHandle", "targetHandle", "data")
# Namespaces every cluster has; an export does not declare them.
BUILTIN_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease"}
)


@dataclass(frozen=True)
class Change:
    """One changed leaf: where it is, and its value before and after."""

    path: str
    before: Any
    after: Any

    def as_dict(self) -> dict:
        """Return the change as JSON, sensitive values masked."""
        return {
            "path": self.path,
            "before": masked(self.before),
            "after": masked(self.after),
        }


class SecretValue:
    """A sensitive value that compares by clear text and shows as the mask."""

    __slots__ = ("_reveal", "_revealed", "raw")

    def __init__(self, raw: str, reveal: Callable[[str], str] | None = None):
        self.raw = raw
        self._reveal = reveal
        self._revealed: str | None = None

    def clear_text(self) -> str:
        """Return the value unsealed (kept in memory only, never shown)."""
        if self._revealed is None:
            sealed = self._reveal and self.raw.startswith(SEALED_PREFIX)
            self._revealed = self._reveal(self.raw) if sealed else self.raw
        return self._revealed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return False
        if self.raw == other.raw:
            return True
        try:
            return self.clear_text() == other.clear_text()
        except ValueError:
            # A token no configured key opens: only equal tokens are equal.
            return False

    def __hash__(self) -> int:
        return hash(SecretValue)

    def __repr__(self) -> str:
        return MASK


def masked(value: Any) -> Any:
    """Return a copy of a JSON value with every SecretValue shown as the mask."""
    if isinstance(value, SecretValue):
        return MASK
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


# Generic JSON differences ----------------------------------------------------


def json_changes(before: Any, after: Any, path: str = "") -> list[Change]:
    """Return the leaf differences between two JSON values.

    A key missing on one side counts as null. Lists of objects that each
    carry a unique "name" are matched by name, other lists by position.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return _dict_changes(before, after, path)
    if isinstance(before, list) and isinstance(after, list):
        return _list_changes(before, after, path)
    return [Change(path, before, after)]


def _dict_changes(before: dict, after: dict, path: str) -> list[Change]:
    changes = []
    for key in dict.fromkeys([*before, *after]):
        changes += json_changes(before.get(key), after.get(key), key_path(path, key))
    return changes


def _list_changes(before: list, after: list, path: str) -> list[Change]:
    before_named, after_named = _by_identity(before), _by_identity(after)
    if before_named is None or after_named is None:
        return _positional_changes(before, after, path)
    changes = []
    for name in dict.fromkeys([*before_named, *after_named]):
        changes += json_changes(
            before_named.get(name),
            after_named.get(name),
            f"{path}[{IDENTITY_KEY}={name}]",
        )
    if not changes:
        # Same items in another order; the order is the change.
        changes.append(Change(path, list(before_named), list(after_named)))
    return changes


def _positional_changes(before: list, after: list, path: str) -> list[Change]:
    changes = []
    for index in range(max(len(before), len(after))):
        changes += json_changes(
            before[index] if index < len(before) else None,
            after[index] if index < len(after) else None,
            f"{path}[{index}]",
        )
    return changes


def _by_identity(items: list) -> dict[str, Any] | None:
    """Return items keyed by their unique name, or None if they have none."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    names = [item.get(IDENTITY_KEY) for item in items]
    if not all(isinstance(name, str) and name for name in names):
        return None
    if len(set(names)) != len(names):
        return None
    return dict(zip(names, items, strict=True))


def key_path(path: str, key: str) -> str:
    """Return path extended by one mapping key."""
    if PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


# Canvases ---------------------------------------------------------------------


def compare_canvases(
    before: tuple[list[dict], list[dict]],
    after: tuple[list[dict], list[dict]],
    *,
    reveal: Callable[[str], str] | None = None,
) -> dict:
    """Return what changed from one (nodes, edges) canvas to another, as JSON."""
    nodes = _compare_nodes(before[0], after[0], reveal)
    edges = _compare_edges(before[1], after[1])
    summary = {
        "nodes_added": len(nodes["added"]),
        "nodes_removed": len(nodes["removed"]),
        "nodes_modified": len(nodes["modified"]),
        "nodes_moved": len(nodes["moved"]),
        "edges_added": len(edges["added"]),
        "edges_removed": len(edges["removed"]),
        "edges_modified": len(edges["modified"]),
    }
    return {"nodes": nodes, "edges": edges, "summary": summary}


def _compare_nodes(before: list[dict], after: list[dict], reveal) -> dict:
    old, new = _by_id(before), _by_id(after)
    result: dict[str, list] = {"added": [], "removed": [], "modified": [], "moved": []}
    for node_id, node in new.items():
        if node_id not in old:
            result["added"].append(_node_summary(node))
    for node_id, node in old.items():
        if node_id not in new:
            result["removed"].append(_node_summary(node))
            continue
        changes = json_changes(
            comparable_node(node, reveal), comparable_node(new[node_id], reveal)
        )
        if changes:
            result["modified"].append(
                {
                    **_node_summary(new[node_id]),
                    "changes": [change.as_dict() for change in changes],
                }
            )
        if node.get("position") != new[node_id].get("position"):
            result["moved"].append(node_id)
    return result


def comparable_node(node: dict, reveal=None) -> dict:
    """Return a node's type and data as compared: no computed fields, secrets
    wrapped so they compare by clear text."""
    data = _without_computed(node.get("data") or {})
    kind = get_kind(node.get("type"))
    if kind is not None:
        for item in list(sensitive_values(kind.fields, data)):
            if isinstance(item.value, str):
                _replace(data, item.path, SecretValue(item.value, reveal))
    return {"type": node.get("type"), "data": data}


def _without_computed(value: Any) -> Any:
    """Return a copy without the keys starting with "_" (server-computed)."""
    if isinstance(value, dict):
        return {
            key: _without_computed(item)
            for key, item in value.items()
            if not (isinstance(key, str) and key.startswith("_"))
        }
    if isinstance(value, list):
        return [_without_computed(item) for item in value]
    return value


def _replace(data: dict, path: tuple, value: Any) -> None:
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _node_summary(node: dict) -> dict:
    data = node.get("data") or {}
    return {"id": node.get("id"), "type": node.get("type"), "name": data.get("name")}


def _compare_edges(before: list[dict], after: list[dict]) -> dict:
    old, new = _by_id(before), _by_id(after)
    result: dict[str, list] = {"added": [], "removed": [], "modified": []}
    for edge_id, edge in new.items():
        if edge_id not in old:
            result["added"].append(_edge_summary(edge))
    for edge_id, edge in old.items():
        if edge_id not in new:
            result["removed"].append(_edge_summary(edge))
            continue
        changes = json_changes(_edge_fields(edge), _edge_fields(new[edge_id]))
        if changes:
            result["modified"].append(
                {
                    **_edge_summary(new[edge_id]),
                    "changes": [change.as_dict() for change in changes],
                }
            )
    return result


def _edge_fields(edge: dict) -> dict:
    return {key: edge.get(key) for key in EDGE_FIELDS}


def _edge_summary(edge: dict) -> dict:
    return {
        "id": edge.get("id"),
        "source": edge.get("source"),
        "target": edge.get("target"),
        "sourceHandle": edge.get("sourceHandle"),
        "targetHandle": edge.get("targetHandle"),
    }


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item.get("id"): item for item in items if isinstance(item, dict)}


# Export -------------------------------------------------------------------------


def export_yaml(
    nodes: list[dict],
    edges: list[dict],
    *,
    workflow_id: str,
    namespace: str,
    title: str,
    reveal: Callable[[str], str] | None = None,
) -> str:
    """Return a canvas as multi-document YAML ready for `kubectl apply`.

    Objects carry the workflow's ownership labels, as a run applies them,
    and the namespaces they need come first. Without `reveal` no secret
    value leaves the server: every Secret is left out (named in the header,
    with its keys) rather than exported with placeholders a `kubectl apply`
    would write over the real values. The workloads' config checksum is
    then computed over the mask, so it differs from a run's.
    """
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=workflow_id,
        namespace=namespace,
        reveal=reveal or reveal_masked,
    )
    omitted: list[str] = []
    if reveal is None:
        rendered, omitted = _without_secrets(rendered)
    documents = [_dump(doc) for doc in _namespace_documents(rendered)]
    objects = render_yaml(rendered).removeprefix("---\n")
    if objects:
        documents.append(objects)
    return _export_header(title, omitted) + "".join(f"---\n{d}" for d in documents)


def _without_secrets(rendered: list[RenderedNode]):
    kept, omitted = [], []
    for node in rendered:
        manifests = []
        for manifest in node.manifests:
            if manifest["kind"] != "Secret":
                manifests.append(manifest)
                continue
            keys = sorted({*manifest.get("data", {}), *manifest.get("stringData", {})})
            meta = manifest["metadata"]
            omitted.append(
                f"{meta.get('namespace', '')}/{meta['name']} ({', '.join(keys)})"
            )
        if manifests:
            kept.append(RenderedNode(node.node_id, node.kind, manifests))
    return kept, omitted


def _namespace_documents(rendered: list[RenderedNode]) -> list[dict]:
    """Return the Namespaces the objects need that no node renders."""
    made = {
        m["metadata"]["name"]
        for node in rendered
        for m in node.manifests
        if m["kind"] == "Namespace"
    }
    needed = sorted(namespaces_of(rendered) - made - BUILTIN_NAMESPACES)
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {MANAGED_BY: "kubeorch"}},
        }
        for name in needed
    ]


def _dump(document: dict) -> str:
    body = yaml.dump(document, Dumper=YAML_DUMPER, sort_keys=False)
    return f"# namespace the objects need (a run creates it when missing)\n{body}"


def _export_header(title: str, omitted: list[str]) -> str:
    lines = [
        f"# {title}",
        "# Apply with: kubectl apply --server-side --field-manager=kubeorch -f FILE",
    ]
    if omitted:
        lines.append(
            "# Secret values are not exported; these Secrets are left out, create "
            "them first:"
        )
        lines += [f"#   {item}" for item in omitted]
    return "\n".join(lines) + "\n"
