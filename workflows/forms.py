"""Forms of the workflow pages."""

from django import forms

from clusters.models import Cluster

from .models import Workflow
from .serializers import DNS_LABEL

STATE_CHOICES = [("", "Any state"), *Workflow.State.choices]


class WorkflowSearchForm(forms.Form):
    """The search box and state filter above the workflow list."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES, label="State")


class NewWorkflowForm(forms.Form):
    """Name, description and target cluster of a new workflow."""

    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autofocus": True})
    )
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.none(),
        empty_label=None,
        help_text="Where runs deploy to. Add clusters on the Clusters page.",
    )
    namespace = forms.RegexField(
        DNS_LABEL,
        max_length=63,
        initial="default",
        error_messages={"invalid": "Must be a DNS label: a-z, 0-9 and '-'."},
        help_text="Nodes without a namespace of their own go here.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        usable = Cluster.objects.usable_by(user).order_by("-is_simulated", "name")
        self.fields["cluster"].queryset = usable
        self.fields["cluster"].label_from_instance = _cluster_label
        default = default_cluster_for(user)
        if default is not None:
            self.fields["cluster"].initial = default.pk


def _cluster_label(cluster: Cluster) -> str:
    return f"{cluster.name} (simulated)" if cluster.is_simulated else cluster.name


def default_cluster_for(user) -> Cluster | None:
    """Return the cluster a new workflow of this user targets unless changed.

    The cluster of the user's latest workflow, else one the user owns, else
    the simulated cluster, else any cluster the user may use.
    """
    usable = Cluster.objects.usable_by(user)
    latest = (
        Workflow.objects.filter(owner=user, cluster__in=usable)
        .order_by("-created_at")
        .select_related("cluster")
        .first()
    )
    if latest is not None:
        return latest.cluster
    return (
        usable.filter(owner=user).order_by("name").first()
        or usable.filter(is_simulated=True).first()
        or usable.order_by("name").first()
    )
