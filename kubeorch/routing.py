"""Channels routes of every app, gathered for the ASGI router.

``http_urlpatterns`` are matched before the Django app (long-lived HTTP
responses such as SSE); anything else goes to Django.
"""

from runs import log_routing
from runs import routing as runs_routing

websocket_urlpatterns: list = [
    *runs_routing.websocket_urlpatterns,
    *log_routing.websocket_urlpatterns,
]

http_urlpatterns: list = [*runs_routing.http_urlpatterns]
