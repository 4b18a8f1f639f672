"""The node-kind registry: every canvas node kind, described once.

The settings panel (through `node_kinds_schema`), the canvas validation, the
renderer, lint, apply order and the docs all read these descriptions; adding
a kind means adding one `NodeKind` here.
"""

import copy
from functools import cache

from workflows.kinds.base import NodeKind, Port, RenderContext
from workflows.kinds.config import CONFIG_MAP, PERSISTENT_VOLUME_CLAIM, SECRET
from workflows.kinds.custom import CUSTOM_RESOURCE
from workflows.kinds.edges import EDGE_RULES, EdgeRule, rule_for, targets_of
from workflows.kinds.fields import object_schema
from workflows.kinds.networking import INGRESS, NETWORK_POLICY, SERVICE
from workflows.kinds.scaling import HPA
from workflows.kinds.workloads import WORKLOAD_KINDS

__all__ = [
    "EDGE_RULES",
    "GROUPS",
    "KINDS",
    "EdgeRule",
    "NodeKind",
    "Port",
    "RenderContext",
    "get_kind",
    "node_kinds_schema",
    "rule_for",
    "targets_of",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
GROUPS = ("Workloads", "Networking", "Config & storage", "Scaling & policy", "Custom")
PALETTE = (
    *WORKLOAD_KINDS,
    SERVICE,
    INGRESS,
    CONFIG_MAP,
    SECRET,
    PERSISTENT_VOLUME_CLAIM,
    HPA,
    NETWORK_POLICY,
    CUSTOM_RESOURCE,
)
KINDS: dict[str, NodeKind] = {kind.key: kind for kind in PALETTE}


def get_kind(key: str) -> NodeKind | None:
    """Return the kind registered under key, or None."""
    return KINDS.get(key)


def node_kinds_schema() -> dict:
    """Return the registry as JSON: kinds with their data schemas, and edges."""
    return copy.deepcopy(_node_kinds_schema())


@cache
def _node_kinds_schema() -> dict:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "groups": list(GROUPS),
        "kinds": [kind_schema(kind) for kind in KINDS.values()],
        "edges": [edge_schema(rule) for rule in EDGE_RULES],
    }


def kind_schema(kind: NodeKind) -> dict:
    """Return one kind's description with the JSON Schema of its data."""
    top_level_links = {
        key: text for key, text in kind.linked_fields.items() if key.startswith("_")
    }
    schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:kubeorch:node-kind:{kind.key}",
        "title": kind.label,
        "description": kind.description,
        **object_schema(kind.fields, top_level_links),
    }
    return {
        "key": kind.key,
        "label": kind.label,
        "group": kind.group,
        "icon": kind.icon,
        "description": kind.description,
        "apiVersion": kind.api_version,
        "objectKind": kind.object_kind,
        "applyTier": kind.tier,
        "healthRule": kind.health_rule,
        "ports": [dict(port) for port in kind.port_docs],
        "targets": list(targets_of(kind.key)),
        "summaryFields": list(kind.summary_fields),
        "linkedFields": dict(kind.linked_fields),
        "schema": schema,
    }


def edge_schema(rule: EdgeRule) -> dict:
    """Return one row of the edge table with the schema of its data."""
    return {
        "source": rule.source,
        "targets": list(rule.targets),
        "sourceHandle": rule.source_handle,
        "targetHandle": rule.target_handle,
        "effect": rule.effect,
        "appliedFirst": rule.first,
        "maxPerSourceHandle": rule.max_per_source_handle,
        "maxPerTarget": rule.max_per_target,
        "dataSchema": {"$schema": JSON_SCHEMA_DIALECT, **object_schema(rule.fields)},
    }
