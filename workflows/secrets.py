"""Seal sensitive values of a canvas before storing it; mask them for output.

Sensitive values are the Secret nodes' data values and env values marked
sensitive. They are stored sealed (tokens starting "enc:"), shown as the
mask "********", and a save that sends the mask back keeps the stored value.
`seal` and `reveal` are passed in (kubeorch.crypto provides them), so this
module needs no keys and no Django.
"""

import copy
import logging
from collections.abc import Callable, Iterator

from workflows.canvas import CanvasInvalid
from workflows.kinds import get_kind
from workflows.kinds.base import MASK
from workflows.kinds.fields import SEALED_PREFIX, SensitiveValue, sensitive_values

logger = logging.getLogger(__name__)

__all__ = [
    "MASK",
    "SEALED_PREFIX",
    "is_sealed",
    "mask_canvas",
    "reveal_masked",
    "seal_canvas",
    "sealed_paths",
]


def is_sealed(value: object) -> bool:
    """Tell whether a stored value is a sealed token."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def sealed_paths(node: dict) -> list[str]:
    """Return the field paths of a node's sensitive values ("data[password]")."""
    return [item.field_path for item in _sensitive(node)]


def seal_canvas(
    nodes: list[dict], previous_nodes: list[dict] | None, seal: Callable[[str], str]
) -> list[dict]:
    """Return a copy of nodes with every sensitive value sealed.

    A value already sealed is kept as it is; the mask keeps the value stored
    for the same node and key in previous_nodes (matched by env variable
    name, not position), and is refused when there is none.
    """
    previous = {
        node.get("id"): node for node in previous_nodes or [] if isinstance(node, dict)
    }
    sealed = copy.deepcopy(nodes)
    errors: dict[str, dict[str, list[str]]] = {}
    for node in sealed:
        stored = _stored_values(node, previous.get(node.get("id")))
        for item in list(_sensitive(node)):
            problem = _seal_value(node, item, stored, seal)
            if problem:
                errors.setdefault(node["id"], {}).setdefault(
                    item.field_path, []
                ).append(problem)
    if errors:
        raise CanvasInvalid({"nodes": errors, "edges": {}, "canvas": []})
    return sealed


def _seal_value(
    node: dict,
    item: SensitiveValue,
    stored: dict[tuple, str],
    seal: Callable[[str], str],
) -> str | None:
    if not isinstance(item.value, str) or is_sealed(item.value):
        return None
    if item.value == MASK:
        kept = stored.get(item.identity)
        if kept is None:
            return (
                "No value is stored for this key yet: type the value instead of the "
                "mask."
            )
        _set(node["data"], item.path, kept if is_sealed(kept) else seal(kept))
        return None
    _set(node["data"], item.path, seal(item.value))
    return None


def _stored_values(node: dict, previous: dict | None) -> dict[tuple, str]:
    if not previous or previous.get("type") != node.get("type"):
        return {}
    return {
        item.identity: item.value
        for item in _sensitive(previous)
        if isinstance(item.value, str)
    }


def mask_canvas(nodes: list[dict]) -> list[dict]:
    """Return a copy of nodes with every sensitive value replaced by the mask."""
    masked = copy.deepcopy(nodes)
    for node in masked:
        for item in list(_sensitive(node)):
            if item.value:
                _set(node["data"], item.path, MASK)
    return masked


def reseal_canvas(nodes: list[dict], reseal: Callable[[str], str]) -> list[dict]:
    """Return a copy of nodes with every sealed value sealed again.

    reseal turns a token into one sealed with the current primary key, for
    key rotation; values that are not sealed are left alone.
    """
    resealed = copy.deepcopy(nodes)
    for node in resealed:
        for item in list(_sensitive(node)):
            if is_sealed(item.value):
                _set(node["data"], item.path, reseal(item.value))
    return resealed


def reveal_masked(token: str) -> str:
    """Stand in for `reveal` when rendering for display: show the mask."""
    return MASK


def _sensitive(node: dict) -> Iterator[SensitiveValue]:
    kind = get_kind(node.get("type")) if isinstance(node, dict) else None
    data = node.get("data") if isinstance(node, dict) else None
    if kind is None or not isinstance(data, dict):
        return iter(())
    return sensitive_values(kind.fields, data)


def _set(data: dict, path: tuple, value: str) -> None:
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
