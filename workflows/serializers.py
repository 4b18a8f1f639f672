"""API input checks and output shapes for workflows and versions."""

from rest_framework import serializers

from clusters.models import Cluster

from . import secrets
from .models import Workflow, WorkflowVersion

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class UsableClusterField(serializers.PrimaryKeyRelatedField):
    """A cluster the requesting user may deploy to; others look nonexistent."""

    def get_queryset(self):
        user = self.context["request"].user
        return Cluster.objects.usable_by(user)


class WorkflowSerializer(serializers.ModelSerializer):
    cluster_id = UsableClusterField(source="cluster")
    owner = serializers.CharField(source="owner.username", read_only=True)
    namespace = serializers.RegexField(
        DNS_LABEL,
        max_length=63,
        required=False,
        error_messages={"invalid": "Must be a DNS label: a-z, 0-9 and '-'."},
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=20, required=False
    )
    nodes = serializers.SerializerMethodField()
    webhook_enabled = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "description",
            "cluster_id",
            "namespace",
            "tags",
            "owner",
            "state",
            "nodes",
            "edges",
            "revision",
            "run_count",
            "success_count",
            "failure_count",
            "last_run_at",
            "schedule_cron",
            "schedule_timezone",
            "schedule_enabled",
            "webhook_enabled",
            "cleanup_state",
            "cleanup_message",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "state",
            "edges",
            "revision",
            "run_count",
            "success_count",
            "failure_count",
            "last_run_at",
            "schedule_cron",
            "schedule_timezone",
            "schedule_enabled",
            "cleanup_state",
            "cleanup_message",
        ]

    def get_nodes(self, workflow) -> list:
        return secrets.mask_canvas(workflow.nodes)

    def get_webhook_enabled(self, workflow) -> bool:
        return bool(workflow.webhook_secret_hash)


class WorkflowListSerializer(WorkflowSerializer):
    """The list leaves the canvas out: it can be large."""

    node_count = serializers.SerializerMethodField()

    class Meta(WorkflowSerializer.Meta):
        fields = [
            f for f in WorkflowSerializer.Meta.fields if f not in ("nodes", "edges")
        ] + ["node_count"]

    def get_node_count(self, workflow) -> int:
        return len(workflow.nodes)


class CanvasSerializer(serializers.Serializer):
    """The body of a save: the canvas and the revision it was based on."""

    nodes = serializers.ListField(child=serializers.DictField(), allow_empty=True)
    edges = serializers.ListField(child=serializers.DictField(), allow_empty=True)
    revision = serializers.IntegerField(
        min_value=0,
        help_text=(
            "The revision this canvas was based on (the workflow's `revision`);"
            " a stale one is refused so no edit is silently overwritten."
        ),
    )


class RunRequestSerializer(serializers.Serializer):
    trigger_data = serializers.DictField(required=False, default=dict)


class VersionSerializer(serializers.ModelSerializer):
    nodes = serializers.SerializerMethodField()
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None
    )

    class Meta:
        model = WorkflowVersion
        fields = [
            "number",
            "name",
            "tag",
            "description",
            "source",
            "restored_from",
            "created_by",
            "created_at",
            "nodes",
            "edges",
        ]

    def get_nodes(self, version) -> list:
        return secrets.mask_canvas(version.nodes)
