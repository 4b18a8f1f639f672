"""REST API for workflows: CRUD, save, state moves, run, node kinds."""

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from runs import actions as run_actions
from runs.serializers import RunSerializer

from . import actions, kinds
from .access import workflow_for_user
from .canvas import CanvasInvalid
from .models import Workflow
from .serializers import (
    CanvasSerializer,
    RunRequestSerializer,
    WorkflowListSerializer,
    WorkflowSerializer,
)

RunStarted = inline_serializer(
    "RunStarted",
    {
        "run_id": serializers.UUIDField(),
        "version": serializers.IntegerField(),
        "status": serializers.CharField(),
    },
)


class WorkflowViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WorkflowSerializer
    lookup_value_regex = "[0-9a-f-]{36}"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        workflows = Workflow.objects.accessible_to(self.request.user).select_related(
            "owner"
        )
        state = self.request.query_params.get("state")
        if state:
            workflows = workflows.filter(state=state)
        search = self.request.query_params.get("search")
        if search:
            workflows = workflows.filter(name__icontains=search)
        return workflows

    def get_serializer_class(self):
        if self.action == "list":
            return WorkflowListSerializer
        return WorkflowSerializer

    def get_object(self):
        # Deleting and archiving remove what the owner deployed; teammates
        # may edit, publish and run.
        manage = self.action in ("destroy", "archive")
        return workflow_for_user(self.request.user, self.kwargs["pk"], manage=manage)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = actions.create_workflow(
            self.request.user,
            name=data["name"],
            cluster=data["cluster"],
            description=data.get("description", ""),
            namespace=data.get("namespace", "default"),
            tags=data.get("tags", []),
        )

    def perform_update(self, serializer):
        serializer.instance = actions.update_details(
            serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, workflow):
        run_actions.check_no_run_in_progress(workflow)
        workflow.delete()

    @extend_schema(request=CanvasSerializer, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def save(self, request, pk=None):
        workflow = self.get_object()
        body = CanvasSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            workflow = actions.save_canvas(
                workflow.pk,
                nodes=body.validated_data["nodes"],
                edges=body.validated_data["edges"],
                base_revision=body.validated_data["revision"],
            )
        except CanvasInvalid as invalid:
            return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(workflow).data)

    @extend_schema(request=None, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        return self._move(Workflow.State.PUBLISHED)

    @extend_schema(request=None, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def edit(self, request, pk=None):
        """Move a published or archived workflow back to draft."""
        return self._move(Workflow.State.DRAFT)

    @extend_schema(request=None, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return self._move(Workflow.State.ARCHIVED)

    @extend_schema(request=RunRequestSerializer, responses={202: RunStarted})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        workflow = self.get_object()
        body = RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = run_actions.start_run(
            workflow.pk,
            triggered_by="manual",
            user=request.user,
            trigger_data=body.validated_data["trigger_data"],
        )
        return Response(
            {"run_id": run.pk, "version": run.version.number, "status": run.status},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses=RunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        workflow = self.get_object()
        runs = workflow.runs.select_related("version", "workflow")
        page = self.paginate_queryset(runs)
        serializer = RunSerializer(page, many=True, context={"summary": True})
        return self.get_paginated_response(serializer.data)

    def _move(self, to_state):
        workflow = self.get_object()
        with transaction.atomic():
            workflow = actions.move_workflow(workflow.pk, to_state)
        return Response(self.get_serializer(workflow).data)


@extend_schema(responses=dict)
@api_view(["GET"])
def node_kinds(request):
    """The node-kind registry as JSON Schema, for the canvas and integrators."""
    return Response(kinds.node_kinds_schema())
