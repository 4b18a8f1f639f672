"""Fetching workflows with the permission decision in one place."""

from django.core.exceptions import ValidationError
from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from .models import Workflow


def workflow_for_user(user, workflow_id, *, manage: bool = False) -> Workflow:
    """Return a workflow the user may reach, or 404; 403 if `manage` and not owner.

    Anything a user was not given answers 404, so ids of other people's
    workflows are not confirmed to exist.
    """
    try:
        workflow = (
            Workflow.objects.accessible_to(user)
            .select_related("cluster", "owner")
            .get(pk=workflow_id)
        )
    except (Workflow.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such workflow.") from None
    if manage and not workflow.is_owned_by(user):
        raise PermissionDenied("Only the owner of this workflow can do that.")
    return workflow
