"""Output shapes of runs, with their node states and log lines."""

from rest_framework import serializers

from .models import Run, RunLogLine, RunNodeState


class RunNodeStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunNodeState
        fields = ["node_id", "kind", "state", "message", "health", "updated_at"]


class RunLogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunLogLine
        fields = ["at", "level", "node_id", "message"]


class RunSerializer(serializers.ModelSerializer):
    workflow_id = serializers.UUIDField(source="workflow.pk", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    duration = serializers.IntegerField(
        source="duration_ms", read_only=True, help_text="Milliseconds."
    )
    triggered_by_user = serializers.CharField(
        source="triggered_by_user.username", read_only=True, default=None
    )

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow_id",
            "version",
            "status",
            "triggered_by",
            "triggered_by_user",
            "trigger_data",
            "started_at",
            "completed_at",
            "duration",
            "summary",
            "cancel_requested",
        ]


class RunDetailSerializer(RunSerializer):
    node_states = RunNodeStateSerializer(many=True, read_only=True)
    logs = RunLogLineSerializer(source="log_lines", many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "node_states", "logs"]
