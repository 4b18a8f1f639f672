"""Browser pages: the workflow list, the new-workflow form and the editor."""

import logging

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from runs.models import Run

from . import actions, secrets
from .access import workflow_for_user
from .forms import NewWorkflowForm, WorkflowSearchForm
from .models import Workflow

logger = logging.getLogger(__name__)

PAGE_SIZE = 20


@require_GET
@login_required
def workflow_list(request):
    """List the workflows the user may reach, searchable and by state."""
    search = WorkflowSearchForm(request.GET)
    workflows = _filtered(_listed(request.user), search)
    page = Paginator(workflows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"search": search, "page": page, "query": _query_without_page(request)}
    template = "workflows/index.html"
    if request.htmx and not request.htmx.boosted:
        template = "workflows/_workflow_results.html"
    return render(request, template, context)


def _listed(user):
    last_run = Run.objects.filter(workflow=OuterRef("pk")).order_by("-started_at")
    return (
        Workflow.objects.accessible_to(user)
        .select_related("cluster", "owner")
        .annotate(last_run_status=Subquery(last_run.values("status")[:1]))
        .order_by("-updated_at")
    )


def _filtered(workflows, search: WorkflowSearchForm):
    if not search.is_valid():
        return workflows
    if search.cleaned_data["q"]:
        workflows = workflows.filter(name__icontains=search.cleaned_data["q"])
    if search.cleaned_data["state"]:
        workflows = workflows.filter(state=search.cleaned_data["state"])
    return workflows


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_http_methods(["GET", "POST"])
@login_required
def workflow_new(request):
    """Create an empty draft workflow and open it in the editor."""
    form = NewWorkflowForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        workflow = actions.create_workflow(
            request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            cluster=form.cleaned_data["cluster"],
            namespace=form.cleaned_data["namespace"],
        )
        return redirect("workflows:editor", workflow_id=workflow.pk)
    return render(request, "workflows/new.html", {"form": form})


@require_GET
@login_required
def workflow_editor(request, workflow_id):
    """The canvas editor of one workflow (read-only unless it is a draft)."""
    workflow = workflow_for_user(request.user, workflow_id)
    context = {"workflow": workflow, "editor_config": editor_config(workflow)}
    return render(request, "workflows/editor.html", context)


def editor_config(workflow: Workflow) -> dict:
    """Return the canvas widget's config: the canvas and the API it talks to."""
    api = f"/v1/api/workflows/{workflow.pk}"
    return {
        "workflowId": str(workflow.pk),
        "name": workflow.name,
        "state": workflow.state,
        "revision": workflow.revision,
        "readOnly": not workflow.is_editable(),
        "nodes": secrets.mask_canvas(workflow.nodes),
        "edges": workflow.edges,
        "urls": {
            "kinds": reverse("node-kinds"),
            "workflow": api,
            "save": f"{api}/save",
            "publish": f"{api}/publish",
            "edit": f"{api}/edit",
            "run": f"{api}/run",
            "runs": f"{api}/runs",
            "manifest": f"{api}/nodes/{{node}}/manifest",
            "run_detail": "/v1/api/runs/{run}",
        },
    }
