"""Fetching runs with the permission decision in one place."""

from django.core.exceptions import ValidationError
from django.http import Http404

from workflows.models import Workflow

from .models import Run


def run_for_user(user, run_id) -> Run:
    """Return a run of a workflow the user may reach, or 404."""
    try:
        return Run.objects.select_related("workflow", "version").get(
            pk=run_id, workflow__in=Workflow.objects.accessible_to(user)
        )
    except (Run.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such run.") from None
