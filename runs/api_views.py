"""REST API for runs: detail with node states and logs, cancel."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from . import actions
from .access import run_for_user
from .models import Run
from .serializers import RunDetailSerializer


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
