"""Operators' view of runs, including the ones stuck with a dead worker."""

from django.contrib import admin

from . import actions
from .models import NodeStatus, Run, RunLogLine, RunNodeState, TerminalSession


class NodeStateInline(admin.TabularInline):
    model = RunNodeState
    fields = ("node_id", "kind", "state", "message", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LogLineInline(admin.TabularInline):
    model = RunLogLine
    fields = ("at", "level", "node_id", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Finish selected running runs as failed")
def fail_runs(modeladmin, request, queryset):
    for run in queryset.filter(status=Run.Status.RUNNING):
        actions.finish_run(
            run.pk,
            Run.Status.FAILED,
            f"Finished as failed by {request.user} in the admin.",
        )


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "workflow",
        "status",
        "triggered_by",
        "started_at",
        "duration_ms",
        "heartbeat_at",
    )
    list_filter = ("status", "triggered_by")
    list_select_related = ("workflow",)
    search_fields = ("workflow__name", "id")
    readonly_fields = (
        "workflow",
        "version",
        "status",
        "triggered_by",
        "triggered_by_user",
        "trigger_data",
        "started_at",
        "completed_at",
        "duration_ms",
        "summary",
        "heartbeat_at",
        "worker_started",
        "cancel_requested",
    )
    fields = readonly_fields
    inlines = [NodeStateInline, LogLineInline]
    actions = [fail_runs]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(TerminalSession)
class TerminalSessionAdmin(admin.ModelAdmin):
    """Who opened a shell into which container, and when: an audit trail."""

    list_display = (
        "started_at",
        "user",
        "workflow",
        "pod",
        "container",
        "ended_at",
        "exit_code",
    )
    list_filter = ("started_at",)
    list_select_related = ("user", "workflow")
    search_fields = ("user__username", "workflow__name", "pod", "container")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in TerminalSession._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NodeStatus)
class NodeStatusAdmin(admin.ModelAdmin):
    list_display = ("workflow", "node_id", "kind", "state", "message", "observed_at")
    list_filter = ("state", "kind")
    list_select_related = ("workflow",)
    search_fields = ("workflow__name", "node_id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
