"""WebSocket routes for pod logs and terminals (gathered in kubeorch.routing).

kubeorch.asgi wraps every WebSocket route in the session middleware, so the
consumers get the signed-in user in scope["user"].
"""

from django.urls import path

from . import log_consumers

NODE = "ws/workflows/<uuid:workflow_id>/nodes/<str:node_id>"

websocket_urlpatterns = [
    path(f"{NODE}/logs", log_consumers.LogsConsumer.as_asgi()),
    path(f"{NODE}/pods/<str:pod>/terminal", log_consumers.TerminalConsumer.as_asgi()),
]
