"""Browser pages for workflows."""

from django.urls import path

from . import views

app_name = "workflows"

urlpatterns = [
    path("", views.workflow_list, name="list"),
    path("workflows/new/", views.workflow_new, name="new"),
    path("workflows/<uuid:workflow_id>/", views.workflow_editor, name="editor"),
]
