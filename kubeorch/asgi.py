"""ASGI entry point: Django over HTTP (SSE routes first), Channels over WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubeorch.settings")

# Django must be set up before anything imports models (consumers do).
django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from kubeorch.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402

# daphne serves no static files; Django's handler does, with DEBUG on or
# off, which is enough for the single-machine set-up `manage.py up` runs.
# TODO(static): put a CDN or a static file server in front for real loads.
http_app = ASGIStaticFilesHandler(django_app)

application = ProtocolTypeRouter(
    {
        # Long-lived responses (SSE) first; every other request goes to Django.
        "http": URLRouter([*http_urlpatterns, re_path(r"", http_app)]),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
