"""URLs of the live node API (pods, logs, diagnosis, fixes) under /v1/api/."""

from django.urls import path

from . import api_live

NODE = "workflows/<uuid:workflow_id>/nodes/<str:node_id>"

urlpatterns = [
    path(f"{NODE}/pods", api_live.node_pods, name="node-pods"),
    path(f"{NODE}/logs", api_live.node_logs, name="node-logs"),
    path(f"{NODE}/diagnosis", api_live.node_diagnosis, name="node-diagnosis"),
    path(f"{NODE}/fix", api_live.node_fix, name="node-fix"),
]
