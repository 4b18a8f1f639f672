"""GET /v1/api/workflows/:id/nodes/:node_id/manifest: one node's YAML.

The settings panel's YAML tab shows what the server renders for a node of
the saved canvas. Secret values are never revealed: sealed values render as
the mask, and Secret data is shown masked rather than base64-encoded.
"""

import logging

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from .access import workflow_for_user
from .canvas import CanvasInvalid
from .kinds.base import MASK
from .render import render_canvas, render_yaml
from .secrets import reveal_masked

logger = logging.getLogger(__name__)

NodeManifest = inline_serializer(
    "NodeManifest",
    {
        "node_id": serializers.CharField(),
        "revision": serializers.IntegerField(),
        "yaml": serializers.CharField(),
        "manifests": serializers.ListField(child=serializers.DictField()),
    },
)


@extend_schema(responses=NodeManifest)
@api_view(["GET"])
def node_manifest(request, pk, node_id):
    """The manifests the server renders for one node of the saved canvas."""
    workflow = workflow_for_user(request.user, pk)
    if not any(node["id"] == node_id for node in workflow.nodes):
        raise Http404("This node is not in the saved canvas; wait for the save.")
    try:
        rendered = render_canvas(
            workflow.nodes,
            workflow.edges,
            workflow_id=str(workflow.pk),
            namespace=workflow.namespace,
            reveal=reveal_masked,
        )
    except CanvasInvalid as invalid:
        # A stored canvas was valid when saved; the registry changed since.
        logger.warning("workflow %s no longer renders: %s", workflow.pk, invalid)
        return Response(invalid.errors, status=400)
    node = next(item for item in rendered if item.node_id == node_id)
    for manifest in node.manifests:
        _mask_secret_data(manifest)
    return Response(
        {
            "node_id": node_id,
            "revision": workflow.revision,
            "yaml": render_yaml([node]),
            "manifests": node.manifests,
        }
    )


def _mask_secret_data(manifest: dict) -> None:
    if manifest.get("kind") == "Secret":
        for section in ("data", "stringData"):
            if manifest.get(section):
                manifest[section] = dict.fromkeys(manifest[section], MASK)
