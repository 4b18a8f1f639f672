"""KubeOrch: design, deploy and watch Kubernetes applications as graphs."""

from .celery import app as celery_app

__all__ = ("celery_app",)
