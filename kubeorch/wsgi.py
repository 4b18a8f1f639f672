"""WSGI entry point, for management tools that want one."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubeorch.settings")

application = get_wsgi_application()
