"""The generic custom-resource kind, for CRDs (and any other object)."""

from typing import Any

from workflows.kinds import fields as f
from workflows.kinds.base import TIER_CONFIG, NodeKind, RenderContext
from workflows.kinds.common import (
    ANNOTATIONS,
    LABELS,
    NAMESPACE,
    check_labels,
    name_field,
)
from workflows.kinds.formats import load_user_yaml

CUSTOM_FIELDS = (
    f.string(
        "apiVersion",
        "API version",
        required=True,
        format="api-version",
        max_length=253,
        help="Group and version of the resource, e.g. 'cert-manager.io/v1'.",
    ),
    f.string(
        "kind", "Kind", required=True, format="kind-name", help="e.g. 'Certificate'."
    ),
    name_field(),
    f.boolean(
        "namespaced",
        "Namespaced",
        default=True,
        help="Off for cluster-scoped resources.",
    ),
    NAMESPACE,
    LABELS,
    ANNOTATIONS,
    f.yaml_text(
        "spec",
        "Spec (YAML)",
        default="{}",
        help="The resource's spec as a YAML mapping.",
    ),
)


def parsed_spec(data: dict) -> dict:
    """Return the spec of a custom resource node as a mapping."""
    document = load_user_yaml(data.get("spec") or "") or {}
    return document if isinstance(document, dict) else {}


def render_custom(ctx: RenderContext) -> list[dict]:
    """Render the custom resource as given, with ownership metadata."""
    data = ctx.data
    manifest: dict[str, Any] = {
        "apiVersion": data["apiVersion"],
        "kind": data["kind"],
        "metadata": ctx.metadata(namespaced=data["namespaced"]),
    }
    spec = parsed_spec(data)
    if spec:
        manifest["spec"] = spec
    return [manifest]


CUSTOM_RESOURCE = NodeKind(
    key="customresource",
    label="Custom resource",
    group="Custom",
    icon="puzzle",
    api_version="",
    object_kind="",
    description=(
        "Any resource given by apiVersion, kind and a YAML spec, e.g. a CRD's object."
    ),
    fields=CUSTOM_FIELDS,
    tier=TIER_CONFIG,
    health_rule="customresource",
    summary_fields=("apiVersion", "kind"),
    summary=lambda data: {
        "apiVersion": data.get("apiVersion"),
        "kind": data.get("kind"),
    },
    render=render_custom,
    check=check_labels,
)
