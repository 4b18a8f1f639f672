"""What a node kind is made of, and what its renderer is handed."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workflows.kinds.fields import SEALED_PREFIX, Field
from workflows.kinds.graph import CanvasGraph

MANAGED_BY = "app.kubernetes.io/managed-by"
WORKFLOW_LABEL = "kubeorch.io/workflow"
NODE_LABEL = "kubeorch.io/node"
MASK = "********"

# Apply tiers: lower tiers are applied first (namespaces come before all).
TIER_CONFIG = 1
TIER_WORKLOAD = 2
TIER_SERVICE = 3
TIER_INGRESS = 4
TIER_AUTOSCALER = 5
TIER_POLICY = 6


@dataclass(frozen=True)
class Port:
    """A handle on a node card that edges attach to."""

    handle: str
    direction: str
    label: str


@dataclass(frozen=True)
class Identity:
    """One Kubernetes object a node renders, for the uniqueness check."""

    path: str
    group: str
    kind: str
    name: str
    namespaced: bool = True


@dataclass
class RenderContext:
    """Everything a kind needs to render one node."""

    node: dict
    graph: CanvasGraph
    workflow_id: str
    namespace: str
    reveal: Callable[[str], str]

    @property
    def data(self) -> dict:
        return self.node["data"]

    def namespace_of(self, node: dict | None = None) -> str:
        """Return the namespace a node's objects go to."""
        node = node or self.node
        return node["data"].get("namespace") or self.namespace

    def ownership_labels(self, node: dict | None = None) -> dict:
        """Return the labels that tie an object to this workflow and node."""
        node = node or self.node
        return {
            MANAGED_BY: "kubeorch",
            WORKFLOW_LABEL: self.workflow_id,
            NODE_LABEL: node["id"],
        }

    def pod_selector(self, node: dict | None = None) -> dict:
        """Return the labels that select a workload node's pods."""
        node = node or self.node
        return {WORKFLOW_LABEL: self.workflow_id, NODE_LABEL: node["id"]}

    def labels(self, node: dict | None = None) -> dict:
        """Return the node's own labels with the ownership labels on top."""
        node = node or self.node
        return {**node["data"].get("labels", {}), **self.ownership_labels(node)}

    def metadata(self, name: str | None = None, *, namespaced: bool = True) -> dict:
        """Return the metadata of one of this node's objects."""
        metadata: dict[str, Any] = {"name": name or self.data["name"]}
        if namespaced:
            metadata["namespace"] = self.namespace_of()
        metadata["labels"] = self.labels()
        if self.data.get("annotations"):
            metadata["annotations"] = dict(self.data["annotations"])
        return metadata

    def reveal_value(self, value: str) -> str:
        """Return the clear text of a stored sensitive value."""
        if value == MASK:
            raise ValueError(
                f"node {self.node['id']} holds a masked value, not a sealed one"
            )
        if value.startswith(SEALED_PREFIX):
            return self.reveal(value)
        return value


def _no_check(data: dict) -> dict[str, list[str]]:
    return {}


def _no_links(node: dict, graph: CanvasGraph) -> dict:
    return {}


def _no_ports(data: dict) -> list[Port]:
    return []


@dataclass(frozen=True)
class NodeKind:
    """One kind of canvas node, described once for every reader."""

    key: str
    label: str
    group: str
    icon: str
    api_version: str
    object_kind: str
    description: str
    fields: tuple[Field, ...]
    tier: int
    health_rule: str
    summary_fields: tuple[str, ...]
    summary: Callable[[dict], dict]
    render: Callable[[RenderContext], list[dict]]
    ports: Callable[[dict], list[Port]] = _no_ports
    port_docs: tuple[dict, ...] = ()
    check: Callable[[dict], dict[str, list[str]]] = _no_check
    linked: Callable[[dict, CanvasGraph], dict] = _no_links
    linked_fields: dict[str, str] = field(default_factory=dict)
    extra_identities: Callable[[dict], list[Identity]] = lambda data: []

    @property
    def api_group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def is_namespaced(self, data: dict) -> bool:
        """Tell whether the node's main object lives in a namespace."""
        return bool(data.get("namespaced", True))

    def identities(self, data: dict) -> list[Identity]:
        """Return every object name this node claims.

        A kind with no fixed object kind (the custom resource) takes its
        apiVersion and kind from its data.
        """
        api_version = self.api_version or data.get("apiVersion", "")
        object_kind = self.object_kind or data.get("kind", "")
        name = data.get("name", "")
        main = Identity(
            "name", _group(api_version), object_kind, name, self.is_namespaced(data)
        )
        return [main, *self.extra_identities(data)]


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]
