"""Operators' view of clusters: everything but their credentials.

Credentials are only ever written here: a kubeconfig pasted into a textarea
that renders empty, sealed on save. Saving, sharing, checking and deleting go
through `clusters.actions` like everywhere else.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from kubeorch.api import Conflict

from . import actions
from .models import Cluster


class BlankTextarea(forms.Textarea):
    """A textarea that never renders a value back into the page."""

    def format_value(self, value) -> None:
        return None


class ClusterForm(forms.ModelForm):
    """The cluster's details plus a write-only kubeconfig."""

    kubeconfig = forms.CharField(
        widget=BlankTextarea(attrs={"rows": 12, "autocomplete": "off"}),
        strip=False,
        help_text="Kubeconfig YAML; its current-context is used. It is sealed on "
        "save and never shown again.",
    )
    test_connection = forms.BooleanField(
        initial=True,
        required=False,
        help_text="Probe the cluster first and refuse it if it does not answer.",
    )

    class Meta:
        model = Cluster
        fields = ["name", "owner", "description", "is_public", "shared_with"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checked: actions.CheckedCredentials | None = None
        if self.instance.pk:
            self.fields["kubeconfig"].required = False
            self.fields["kubeconfig"].help_text = (
                "Leave blank to keep the stored credentials; a kubeconfig given "
                "here replaces them."
            )

    def clean(self) -> dict:
        data = super().clean()
        self._check_name_free(data.get("name"))
        kubeconfig = data.get("kubeconfig")
        if kubeconfig:
            try:
                self.checked = actions.check_credentials(
                    Cluster.AuthMethod.KUBECONFIG,
                    {"kubeconfig": kubeconfig},
                    test=data.get("test_connection", False),
                )
            except ValidationError as refused:
                self.add_error(None, refused)
        return data

    def _check_name_free(self, name: str | None) -> None:
        # On a change the owner is read-only, so the model form does not
        # check the (owner, name) constraint itself.
        cluster = self.instance
        if not cluster.pk or not name or name == cluster.name:
            return
        if Cluster.objects.filter(owner=cluster.owner_id, name=name).exists():
            self.add_error(
                "name", f"{cluster.owner} already has a cluster named {name}."
            )


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    form = ClusterForm
    list_display = (
        "name",
        "owner",
        "auth_method",
        "server",
        "reachable",
        "kubernetes_version",
        "node_count",
        "is_simulated",
        "is_public",
        "last_checked_at",
    )
    list_filter = ("auth_method", "reachable", "is_simulated", "is_public")
    list_select_related = ("owner",)
    search_fields = ("name", "server", "owner__username", "description")
    filter_horizontal = ("shared_with",)
    status_fields = (
        "reachable",
        "kubernetes_version",
        "node_count",
        "namespaces",
        "last_checked_at",
        "last_error",
    )
    readonly_fields = (
        "auth_method",
        "server",
        "is_simulated",
        *status_fields,
        "created_at",
        "updated_at",
    )
    actions = ["check_now"]

    def get_fieldsets(self, request, obj=None):
        details = ["name", "owner", "description", "is_public", "shared_with"]
        credentials = ["kubeconfig", "test_connection"]
        if obj is None:
            return [(None, {"fields": details + credentials})]
        return [
            (None, {"fields": details + ["auth_method", "server", "is_simulated"]}),
            ("Status", {"fields": self.status_fields}),
            ("Replace the credentials", {"fields": credentials}),
            ("Dates", {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        # The owner is chosen once, when the cluster is added.
        return self.readonly_fields + (("owner",) if obj else ())

    def save_model(self, request, obj, form, change) -> None:
        data, checked = form.cleaned_data, form.checked
        if change:
            # `obj` already carries the form's values; the action compares
            # them with the stored row.
            cluster = actions.update_cluster(
                Cluster.objects.get(pk=obj.pk),
                name=data["name"],
                description=data["description"],
                is_public=data["is_public"],
                auth_method=checked.auth_method if checked else None,
                credentials=checked.credentials if checked else None,
                test=False,
            )
            obj.refresh_from_db()
        else:
            cluster = actions.register_cluster(
                data["owner"],
                name=data["name"],
                description=data["description"],
                is_public=data["is_public"],
                auth_method=checked.auth_method,
                credentials=checked.credentials,
                test=False,
            )
            # The admin goes on with `obj` (log entry, redirect, sharing).
            obj.pk = cluster.pk
            obj.refresh_from_db()
        if checked is not None and checked.probe is not None:
            actions.record_probe(cluster, checked.probe)

    def save_related(self, request, form, formsets, change) -> None:
        cluster = form.instance
        wanted = set(form.cleaned_data.get("shared_with") or [])
        current = set(cluster.shared_with.all())
        if wanted - current:
            actions.share_cluster(cluster, wanted - current)
        if current - wanted:
            actions.unshare_cluster(cluster, current - wanted)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj) -> None:
        actions.delete_cluster(obj)

    def delete_queryset(self, request, queryset) -> None:
        for cluster in queryset:
            try:
                actions.delete_cluster(cluster)
            except Conflict as refused:
                self.message_user(request, str(refused.detail), messages.ERROR)

    @admin.action(description="Check now (probe the selected clusters)")
    def check_now(self, request, queryset) -> None:
        results = [actions.check_cluster(cluster) for cluster in queryset]
        unreachable = [c for c in results if not c.reachable]
        self.message_user(
            request,
            f"Checked {len(results)} cluster(s): "
            f"{len(results) - len(unreachable)} reachable.",
            messages.SUCCESS,
        )
        for cluster in unreachable:
            self.message_user(
                request, f"{cluster}: {cluster.last_error}", messages.WARNING
            )
