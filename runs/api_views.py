"""REST API for runs: history, detail with node states and logs, cancel."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from workflows.models import Workflow

from . import actions
from .access import run_for_user
from .models import Run
from .serializers import RunDetailSerializer, RunSerializer


class RunHistoryQuery(serializers.Serializer):
    workflow = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(Run.Status.choices, required=False)
    triggered_by = serializers.ChoiceField(Run.Trigger.choices, required=False)


@extend_schema(
    parameters=[
        OpenApiParameter("workflow", str, description="a workflow id"),
        OpenApiParameter("status", str, enum=Run.Status.values),
        OpenApiParameter("triggered_by", str, enum=Run.Trigger.values),
    ]
)
class RunHistory(generics.ListAPIView):
    """Runs of every workflow the user may reach, newest first, filtered."""

    serializer_class = RunSerializer

    def get_queryset(self):
        query = RunHistoryQuery(data=self.request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        filters = {
            field: value
            for field, value in query.validated_data.items()
            if field != "workflow"
        }
        if "workflow" in query.validated_data:
            filters["workflow_id"] = query.validated_data["workflow"]
        return (
            Run.objects.filter(
                workflow__in=Workflow.objects.accessible_to(self.request.user),
                **filters,
            )
            .select_related("workflow", "version", "triggered_by_user")
            .order_by("-started_at")
        )


def _detail(run: Run) -> dict:
    run = (
        Run.objects.select_related("workflow", "version", "triggered_by_user")
        .prefetch_related("node_states", "log_lines")
        .get(pk=run.pk)
    )
    return RunDetailSerializer(run).data


@extend_schema(responses=RunDetailSerializer)
@api_view(["GET"])
def run_detail(request, run_id):
    """A run with its per-node states and its log lines."""
    return Response(_detail(run_for_user(request.user, run_id)))


@extend_schema(request=None, responses=RunDetailSerializer)
@api_view(["POST"])
def run_cancel(request, run_id):
    """Stop applying; the run ends cancelled and the cluster stays consistent."""
    run = actions.request_cancel(run_for_user(request.user, run_id))
    return Response(_detail(run))
