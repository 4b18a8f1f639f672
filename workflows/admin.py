"""Operators' view of workflows: everything but secret values."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from kubeorch.api import Conflict

from . import actions, secrets
from .models import Workflow, WorkflowVersion


def _masked_json(nodes, edges) -> str:
    canvas = {"nodes": secrets.mask_canvas(nodes), "edges": edges}
    return format_html("<pre>{}</pre>", json.dumps(canvas, indent=2))


def _mover(state: str, label: str):
    @admin.action(description=label)
    def move(modeladmin, request, queryset):
        for workflow in queryset:
            try:
                actions.move_workflow(workflow.pk, state)
            except Conflict as refused:
                modeladmin.message_user(
                    request, f"{workflow}: {refused.detail}", messages.ERROR
                )

    move.__name__ = f"move_to_{state}"
    return move


class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    fields = ("number", "source", "name", "tag", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "cluster",
        "state",
        "run_count",
        "success_count",
        "failure_count",
        "last_run_at",
        "updated_at",
    )
    list_filter = ("state", "cluster")
    list_select_related = ("owner", "cluster")
    search_fields = ("name", "owner__username", "description")
    readonly_fields = (
        "state",
        "revision",
        "canvas",
        "run_count",
        "success_count",
        "failure_count",
        "last_run_at",
        "cleanup_state",
        "cleanup_message",
        "schedule_cron",
        "schedule_timezone",
        "schedule_enabled",
        "webhook",
        "created_at",
        "updated_at",
    )
    fields = (
        "name",
        "description",
        "owner",
        "shared_with",
        "cluster",
        "namespace",
        "tags",
        *readonly_fields,
    )
    filter_horizontal = ("shared_with",)
    inlines = [VersionInline]
    actions = [
        _mover(Workflow.State.PUBLISHED, "Publish"),
        _mover(Workflow.State.DRAFT, "Move back to draft"),
        _mover(Workflow.State.ARCHIVED, "Archive"),
    ]

    @admin.display(description="Canvas (secret values masked)")
    def canvas(self, workflow) -> str:
        return _masked_json(workflow.nodes, workflow.edges)

    @admin.display(description="Webhook", boolean=True)
    def webhook(self, workflow) -> bool:
        return workflow.has_webhook()


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    list_display = ("workflow", "number", "source", "name", "tag", "created_at")
    list_filter = ("source",)
    list_select_related = ("workflow",)
    search_fields = ("workflow__name", "name", "tag")
    fields = (
        "workflow",
        "number",
        "source",
        "name",
        "tag",
        "description",
        "restored_from",
        "created_by",
        "created_at",
        "canvas",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Canvas (secret values masked)")
    def canvas(self, version) -> str:
        return _masked_json(version.nodes, version.edges)
