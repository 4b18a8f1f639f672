"""Browser pages of a deployed node: its resource page and a terminal."""

import logging

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import live_actions

logger = logging.getLogger(__name__)

TAIL_CHOICES = (100, 200, 500, 1000, 5000)


@require_GET
@login_required
def node_resource(request, workflow_id, node_id):
    """The resource page of a node: diagnosis, pods and their logs."""
    target = live_actions.node_target_for_user(request.user, workflow_id, node_id)
    context = {
        "workflow": target.workflow,
        "node": target.node,
        "namespace": target.namespace,
        "has_pods": target.has_pods,
        "tail_choices": TAIL_CHOICES,
    }
    return render(request, "runs/resource.html", context)


@require_GET
@login_required
def node_terminal(request, workflow_id, node_id, pod):
    """A terminal into a container of one of the node's pods."""
    target = live_actions.node_target_for_user(request.user, workflow_id, node_id)
    context = {
        "workflow": target.workflow,
        "node": target.node,
        "pod": pod,
        "container": request.GET.get("container", ""),
    }
    return render(request, "runs/terminal.html", context)
