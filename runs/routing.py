"""Channels routes of runs: the live status of a workflow."""

from channels.auth import AuthMiddlewareStack
from django.urls import re_path

from . import consumers

UUID = (
    r"(?P<workflow_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)

websocket_urlpatterns = [
    re_path(rf"^ws/workflows/{UUID}/$", consumers.WorkflowStatusConsumer.as_asgi()),
]

# Served before the Django app: the SSE response stays open. The session
# middleware wraps only this route, so plain Django requests do not pay it.
http_urlpatterns = [
    re_path(
        rf"^v1/api/workflows/{UUID}/status/stream/?$",
        AuthMiddlewareStack(consumers.WorkflowStatusStream.as_asgi()),
    ),
]
