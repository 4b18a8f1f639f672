"""Browser pages: the cluster list and the add-cluster form."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import actions
from .forms import AddClusterForm
from .models import Cluster

logger = logging.getLogger(__name__)


@require_GET
@login_required
def cluster_list(request):
    """List the clusters the user may deploy to, with their last status."""
    clusters = (
        Cluster.objects.usable_by(request.user)
        .select_related("owner")
        .order_by("-is_simulated", "name")
    )
    return render(request, "clusters/index.html", {"clusters": clusters})


@require_http_methods(["GET", "POST"])
@login_required
def cluster_new(request):
    """Register a cluster; it is probed first and refused if it fails."""
    form = AddClusterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            cluster = actions.register_cluster(
                request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                auth_method=form.cleaned_data["auth_method"],
                credentials=form.credentials(),
            )
        except ValidationError as refused:
            _show_on_fields(form, refused)
        else:
            messages.success(
                request,
                f"Cluster {cluster.name} answered (Kubernetes "
                f"{cluster.kubernetes_version or 'version unknown'}) and was saved.",
            )
            return redirect("clusters:list")
    return render(request, "clusters/new.html", {"form": form})


def _show_on_fields(form: AddClusterForm, refused: ValidationError) -> None:
    """Put an action's errors next to the fields they name."""
    for field_name, errors in refused.message_dict.items():
        if field_name == "kubeconfig" and form.cleaned_data.get("kubeconfig_file"):
            field_name = "kubeconfig_file"
        target = field_name if field_name in form.fields else None
        for error in errors:
            form.add_error(target, error)
