"""The Celery application that runs deployments."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kubeorch.settings")

app = Celery("kubeorch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
