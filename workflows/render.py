"""Render a canvas to Kubernetes manifests, one RenderedNode per node.

The canvas is normalized first (defaults, validation), so the renderer only
sees well-formed data. Edges take effect here: Services select their
workload's pods, Ingress paths get their backends, HPAs their target,
ConfigMaps, Secrets and PVCs become volumes or `envFrom`, NetworkPolicies
select their workloads. Sealed values are unsealed through `reveal` only
while rendering; callers must not log the result.
"""

import logging
from collections.abc import Callable

import yaml

from workflows.canvas import CanvasGraph, normalize_canvas
from workflows.kinds import KINDS, RenderContext
from workflows.kinds.formats import dns_label, label_value
from workflows.rendered import RenderedNode

logger = logging.getLogger(__name__)

# libyaml's dumper is ten times faster; both write only plain YAML types.
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Kinds a node may render beside its main object that the main one needs
# first (a workload's env Secret); see `apply_sequence`.
SUPPORTING_KINDS = ("Secret", "ConfigMap")


def render_canvas(
    nodes: list[dict],
    edges: list[dict],
    *,
    workflow_id: str,
    namespace: str,
    reveal: Callable[[str], str],
) -> list[RenderedNode]:
    """Return the manifests of every node, in canvas order, main one first.

    Raises `CanvasInvalid` when the canvas does not validate, and ValueError
    for a workflow id or namespace that cannot be a label or a namespace.
    """
    _check_target(workflow_id, namespace)
    clean_nodes, clean_edges = normalize_canvas(nodes, edges, namespace=namespace)
    graph = CanvasGraph(clean_nodes, clean_edges)
    rendered = [
        _render_node(node, graph, workflow_id, namespace, reveal)
        for node in clean_nodes
    ]
    logger.debug("rendered %s node(s) of workflow %s", len(rendered), workflow_id)
    return rendered


def _check_target(workflow_id: str, namespace: str) -> None:
    if not workflow_id or label_value(workflow_id):
        raise ValueError(f"workflow id {workflow_id!r} cannot be a label value")
    if not namespace or dns_label(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS label")


def _render_node(
    node: dict,
    graph: CanvasGraph,
    workflow_id: str,
    namespace: str,
    reveal: Callable[[str], str],
) -> RenderedNode:
    ctx = RenderContext(
        node=node,
        graph=graph,
        workflow_id=workflow_id,
        namespace=namespace,
        reveal=reveal,
    )
    manifests = KINDS[node["type"]].render(ctx)
    return RenderedNode(node_id=node["id"], kind=node["type"], manifests=manifests)


def apply_sequence(rendered: RenderedNode) -> list[dict]:
    """Return a node's manifests in the order to apply them.

    A workload's env Secret must exist before its pods start, so supporting
    Secrets and ConfigMaps go before the main object; the rest follow it.
    """
    main, *extra = rendered.manifests
    supporting = [
        m
        for m in extra
        if m["kind"] in SUPPORTING_KINDS and main["kind"] not in SUPPORTING_KINDS
    ]
    others = [m for m in extra if m not in supporting]
    return [*supporting, main, *others]


def namespaces_of(rendered: list[RenderedNode]) -> set[str]:
    """Return the namespaces the rendered objects need."""
    return {
        manifest["metadata"]["namespace"]
        for node in rendered
        for manifest in node.manifests
        if manifest["metadata"].get("namespace")
    }


def render_yaml(rendered: list[RenderedNode]) -> str:
    """Return every manifest as one multi-document YAML text."""
    documents = []
    for node in rendered:
        for manifest in node.manifests:
            body = yaml.dump(
                manifest,
                Dumper=YAML_DUMPER,
                sort_keys=False,
                default_flow_style=False,
                allow_unicode=True,
            )
            documents.append(f"# node: {node.node_id} ({node.kind})\n{body}")
    return "---\n" + "---\n".join(documents) if documents else ""
