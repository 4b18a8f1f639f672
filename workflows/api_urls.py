from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api_manifest, api_views

router = SimpleRouter()
# Integrators write /v1/api/workflows/:id/run, the seed document's form;
# a trailing slash is accepted too.
router.trailing_slash = "/?"
router.register("workflows", api_views.WorkflowViewSet, basename="workflow")

urlpatterns = [
    path("node-kinds", api_views.node_kinds, name="node-kinds"),
    path(
        "workflows/<uuid:pk>/nodes/<str:node_id>/manifest",
        api_manifest.node_manifest,
        name="workflow-node-manifest",
    ),
    *router.urls,
]
