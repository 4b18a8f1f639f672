from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api_manifest, api_versions, api_views

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
    # Versions, dry run, triggers and export (workflows.api_versions).
    path(
        "workflows/<uuid:workflow_id>/versions",
        api_versions.VersionList.as_view(),
        name="workflow-versions",
    ),
    path(
        "workflows/<uuid:workflow_id>/versions/compare",
        api_versions.version_compare,
        name="workflow-versions-compare",
    ),
    path(
        "workflows/<uuid:workflow_id>/versions/<int:number>",
        api_versions.version_detail,
        name="workflow-version",
    ),
    path(
        "workflows/<uuid:workflow_id>/versions/<int:number>/restore",
        api_versions.version_restore,
        name="workflow-version-restore",
    ),
    path(
        "workflows/<uuid:workflow_id>/versions/<int:number>/export",
        api_versions.version_export,
        name="workflow-version-export",
    ),
    path(
        "workflows/<uuid:workflow_id>/dry-run",
        api_versions.workflow_dry_run,
        name="workflow-dry-run",
    ),
    path(
        "workflows/<uuid:workflow_id>/schedule",
        api_versions.workflow_schedule,
        name="workflow-schedule",
    ),
    path(
        "workflows/<uuid:workflow_id>/webhook",
        api_versions.workflow_webhook,
        name="workflow-webhook",
    ),
    path(
        "hooks/<uuid:workflow_id>/<str:secret>",
        api_versions.webhook_call,
        name="workflow-hook",
    ),
    path(
        "hooks/<uuid:workflow_id>",
        api_versions.webhook_call_with_header,
        name="workflow-hook-header",
    ),
]
