"""WebSocket routes for pod logs and terminals (added to kubeorch.routing)."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from . import log_consumers

NODE = "ws/workflows/<uuid:workflow_id>/nodes/<str:node_id>"

# The session middleware gives the consumers the signed-in user.
websocket_urlpatterns = [
    path(
        f"{NODE}/logs",
        AuthMiddlewareStack(log_consumers.LogsConsumer.as_asgi()),
    ),
    path(
        f"{NODE}/pods/<str:pod>/terminal",
        AuthMiddlewareStack(log_consumers.TerminalConsumer.as_asgi()),
    ),
]
