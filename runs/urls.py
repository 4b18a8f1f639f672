"""Browser pages of runs: a node's resource page and its terminal."""

from django.urls import path

from . import views

app_name = "runs"

NODE = "workflows/<uuid:workflow_id>/nodes/<str:node_id>"

urlpatterns = [
    path(f"{NODE}/", views.node_resource, name="resource"),
    path(f"{NODE}/pods/<str:pod>/terminal/", views.node_terminal, name="terminal"),
]
