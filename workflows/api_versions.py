"""REST API for versions, dry runs, schedules, webhooks and exports.

Who may do what, besides outsiders who get 404 for everything:

| endpoint | owner | teammate (shared with) |
|---|---|---|
| list, read, compare, export versions | yes | yes |
| export with `include_secrets=true` | yes | 403 |
| create a manual version, restore a version (draft only) | yes | yes |
| dry run | yes | yes |
| read the schedule and webhook status | yes | yes |
| set or delete the schedule, create, rotate or disable the webhook | yes | 403 |

The webhook call itself (`POST /v1/api/hooks/...`) needs no login: the
secret is the credential, and a wrong one answers 404 like an unknown id.
"""

import logging

from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
)
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from kubeorch import crypto
from kubeorch.api import Conflict
from runs.dry_run import dry_run_workflow
from runs.kube import KubeError

from . import actions, triggers, versions
from .access import workflow_for_user
from .canvas import CanvasInvalid
from .models import Workflow, WorkflowVersion
from .serializers import VersionSerializer

logger = logging.getLogger(__name__)

CURRENT = "current"


# Shapes -------------------------------------------------------------------------


class VersionListSerializer(serializers.ModelSerializer):
    """A version without its canvas (which can be large)."""

    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None
    )
    node_count = serializers.SerializerMethodField()
    edge_count = serializers.SerializerMethodField()

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
            "node_count",
            "edge_count",
        ]
        read_only_fields = ["number", "source", "restored_from", "created_at"]

    def get_node_count(self, version) -> int:
        return len(version.nodes)

    def get_edge_count(self, version) -> int:
        return len(version.edges)


class ManualVersionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    tag = serializers.CharField(max_length=50, required=False, allow_blank=True)
    description = serializers.CharField(
        max_length=5000, required=False, allow_blank=True
    )


class RestoreSerializer(ManualVersionSerializer):
    revision = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The canvas revision the restore is based on; a stale one is "
        "refused with 409.",
    )


_MISSING = {
    "required": "Say which version to compare: a number, or 'current'.",
    "null": "Say which version to compare: a number, or 'current'.",
}


class CompareQuerySerializer(serializers.Serializer):
    from_ = serializers.CharField(
        help_text="A version number, or 'current'.", error_messages=_MISSING
    )
    to = serializers.CharField(
        help_text="A version number, or 'current'.", error_messages=_MISSING
    )

    def validate_from_(self, value: str) -> str:
        return _version_reference(value)

    def validate_to(self, value: str) -> str:
        return _version_reference(value)


def _version_reference(value: str) -> str:
    if value != CURRENT and not value.isdigit():
        raise serializers.ValidationError("Give a version number or 'current'.")
    return value


class DryRunRequestSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Preview this version instead of the current canvas.",
    )


class ScheduleRequestSerializer(serializers.Serializer):
    cron = serializers.CharField(
        max_length=100,
        help_text="Five cron fields (minute hour day-of-month month day-of-week), "
        "or @hourly, @daily, @weekly, @monthly, @yearly.",
    )
    timezone = serializers.CharField(max_length=63, default="UTC")
    enabled = serializers.BooleanField(default=True)


ScheduleOut = inline_serializer(
    "Schedule",
    {
        "cron": serializers.CharField(),
        "timezone": serializers.CharField(),
        "enabled": serializers.BooleanField(),
        "next_runs": serializers.ListField(child=serializers.DateTimeField()),
    },
)
WebhookOut = inline_serializer(
    "Webhook",
    {
        "enabled": serializers.BooleanField(),
        "rotated_at": serializers.DateTimeField(allow_null=True),
        "header": serializers.CharField(),
    },
)
WebhookCreated = inline_serializer(
    "WebhookCreated",
    {
        "enabled": serializers.BooleanField(),
        "rotated_at": serializers.DateTimeField(),
        "header": serializers.CharField(),
        "url": serializers.URLField(help_text="Shown once: it holds the secret."),
        "secret": serializers.CharField(help_text="Shown once."),
    },
)
RunStarted = inline_serializer(
    "WebhookRunStarted",
    {
        "run_id": serializers.UUIDField(),
        "version": serializers.IntegerField(),
        "status": serializers.CharField(),
    },
)
Change = inline_serializer(
    "FieldChange",
    {
        "path": serializers.CharField(),
        "before": serializers.JSONField(allow_null=True),
        "after": serializers.JSONField(allow_null=True),
    },
)
Comparison = inline_serializer(
    "VersionComparison",
    {
        "from": serializers.CharField(),
        "to": serializers.CharField(),
        "nodes": serializers.DictField(help_text="added, removed, modified, moved"),
        "edges": serializers.DictField(help_text="added, removed, modified"),
        "summary": serializers.DictField(child=serializers.IntegerField()),
    },
)
DryRun = inline_serializer(
    "DryRun",
    {
        "workflow_id": serializers.UUIDField(),
        "revision": serializers.IntegerField(),
        "version": serializers.IntegerField(allow_null=True),
        "nodes": serializers.ListField(
            child=serializers.DictField(),
            help_text="Per node: node_id, kind, action (create, change, "
            "unchanged, prune, blocked, error) and its objects with changes.",
        ),
        "namespaces_to_create": serializers.ListField(child=serializers.CharField()),
        "summary": serializers.DictField(child=serializers.IntegerField()),
        "duration_ms": serializers.IntegerField(),
        "run_would_stop": serializers.BooleanField(),
        "lint": serializers.ListField(child=serializers.DictField()),
    },
)


# Versions -------------------------------------------------------------------------


class VersionList(generics.ListCreateAPIView):
    """The versions of a workflow, newest first; POST stores a manual one."""

    serializer_class = VersionListSerializer

    def get_queryset(self):
        workflow = workflow_for_user(self.request.user, self.kwargs["workflow_id"])
        return workflow.versions.select_related("created_by")

    @extend_schema(request=ManualVersionSerializer, responses={201: VersionSerializer})
    def post(self, request, workflow_id):
        workflow = workflow_for_user(request.user, workflow_id)
        body = ManualVersionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = actions.create_version(
            workflow.pk, user=request.user, **body.validated_data
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=VersionSerializer)
@api_view(["GET"])
def version_detail(request, workflow_id, number):
    """One version with its canvas, secret values masked."""
    version = _version(request.user, workflow_id, number)
    return Response(VersionSerializer(version).data)


@extend_schema(
    parameters=[
        OpenApiParameter("from", str, required=True, description="number or current"),
        OpenApiParameter("to", str, required=True, description="number or current"),
    ],
    responses=Comparison,
)
@api_view(["GET"])
def version_compare(request, workflow_id):
    """What changed between two versions (or a version and the canvas)."""
    workflow = workflow_for_user(request.user, workflow_id)
    query = CompareQuerySerializer(
        data={
            "from_": request.query_params.get("from"),
            "to": request.query_params.get("to"),
        }
    )
    if not query.is_valid():
        errors = dict(query.errors)
        if "from_" in errors:
            errors["from"] = errors.pop("from_")
        raise ValidationError(errors)
    refs = query.validated_data["from_"], query.validated_data["to"]
    before, after = (_canvas_of(workflow, ref) for ref in refs)
    comparison = versions.compare_canvases(before, after, reveal=crypto.unseal)
    return Response({"from": refs[0], "to": refs[1], **comparison})


@extend_schema(request=RestoreSerializer, responses={201: VersionSerializer})
@api_view(["POST"])
def version_restore(request, workflow_id, number):
    """Copy a version forward as a new version and load it on the canvas.

    The workflow must be a draft (move it back to draft first); the canvas
    revision is bumped and no version is ever deleted.
    """
    workflow = workflow_for_user(request.user, workflow_id)
    body = RestoreSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = dict(body.validated_data)
    try:
        version = actions.restore_version(
            workflow.pk,
            number,
            user=request.user,
            base_revision=data.pop("revision", None),
            **data,
        )
    except WorkflowVersion.DoesNotExist:
        raise Http404("No such version.") from None
    except CanvasInvalid as invalid:
        return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
    return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "include_secrets",
            bool,
            description="Owner only: include Secrets with their values. Without "
            "it every Secret is left out (named in the header).",
        )
    ],
    responses={(200, "application/yaml"): OpenApiTypes.STR},
)
@api_view(["GET"])
def version_export(request, workflow_id, number):
    """A version as multi-document YAML for `kubectl apply`, as an attachment."""
    version = _version(request.user, workflow_id, number)
    workflow = version.workflow
    include = request.query_params.get("include_secrets", "").lower() in ("1", "true")
    if include and not workflow.is_owned_by(request.user):
        raise PermissionDenied("Only the owner can export secret values.")
    title = f'KubeOrch workflow "{workflow.name}" ({workflow.pk}), version {number}'
    try:
        text = versions.export_yaml(
            version.nodes,
            version.edges,
            workflow_id=str(workflow.pk),
            namespace=workflow.namespace,
            title=title,
            reveal=crypto.unseal if include else None,
        )
    except CanvasInvalid as invalid:
        return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
    if include:
        logger.info(
            "workflow %s version %s exported with secrets by %s",
            workflow.pk,
            number,
            request.user,
        )
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    filename = f"{slugify(workflow.name) or 'workflow'}-v{number}.yaml"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _version(user, workflow_id, number) -> WorkflowVersion:
    workflow = workflow_for_user(user, workflow_id)
    version = workflow.versions.filter(number=number).first()
    if version is None:
        raise Http404("No such version.")
    version.workflow = workflow
    return version


def _canvas_of(workflow: Workflow, ref: str) -> tuple[list, list]:
    if ref == CURRENT:
        return workflow.nodes, workflow.edges
    version = workflow.versions.filter(number=int(ref)).first()
    if version is None:
        raise Http404(f"No version {ref}.")
    return version.nodes, version.edges


# Dry run -------------------------------------------------------------------------


@extend_schema(
    request=DryRunRequestSerializer,
    responses={200: DryRun, 502: OpenApiResponse(description="cluster unreachable")},
)
@api_view(["POST"])
def workflow_dry_run(request, workflow_id):
    """Preview, per node, what a run would change on the cluster.

    Runs in the request: every cluster request is bounded by the cluster
    timeout and the whole preview by KUBEORCH_DRY_RUN_DEADLINE (60 s).
    """
    workflow = workflow_for_user(request.user, workflow_id)
    body = DryRunRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    number = body.validated_data.get("version")
    version = _version(request.user, workflow_id, number) if number else None
    try:
        preview = dry_run_workflow(workflow, version=version)
    except CanvasInvalid as invalid:
        return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
    except crypto.SealError:
        raise Conflict(
            "Secret values of this workflow cannot be opened with the configured keys."
        ) from None
    except KubeError as error:
        return Response(
            {"detail": f"The cluster did not answer as expected: {error.describe()}"},
            status=status.HTTP_502_BAD_GATEWAY,
        )
    except ValueError as error:
        raise Conflict(f"Cannot connect to the cluster: {error}") from None
    return Response(preview)


# Schedule ---------------------------------------------------------------------------


@extend_schema(methods=["GET"], responses=ScheduleOut)
@extend_schema(
    methods=["PUT"], request=ScheduleRequestSerializer, responses=ScheduleOut
)
@extend_schema(methods=["DELETE"], responses={204: None})
@api_view(["GET", "PUT", "DELETE"])
def workflow_schedule(request, workflow_id):
    """Read, set (owner) or delete (owner) the cron schedule of a workflow."""
    manage = request.method != "GET"
    workflow = workflow_for_user(request.user, workflow_id, manage=manage)
    if request.method == "DELETE":
        triggers.clear_schedule(workflow.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PUT":
        body = ScheduleRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            workflow = triggers.set_schedule(
                workflow.pk,
                cron=body.validated_data["cron"],
                time_zone=body.validated_data["timezone"],
                enabled=body.validated_data["enabled"],
            )
        except triggers.ScheduleInvalid as invalid:
            raise ValidationError({invalid.field: [invalid.message]}) from None
    elif not workflow.schedule_cron:
        raise Http404("This workflow has no schedule.")
    return Response(_schedule(workflow))


def _schedule(workflow: Workflow) -> dict:
    return {
        "cron": workflow.schedule_cron,
        "timezone": workflow.schedule_timezone,
        "enabled": workflow.schedule_enabled,
        "next_runs": [t.isoformat() for t in triggers.next_fire_times(workflow)],
    }


# Webhook ----------------------------------------------------------------------------


@extend_schema(methods=["GET"], responses=WebhookOut)
@extend_schema(methods=["POST"], request=None, responses={201: WebhookCreated})
@extend_schema(methods=["DELETE"], responses={204: None})
@api_view(["GET", "POST", "DELETE"])
def workflow_webhook(request, workflow_id):
    """Webhook status; POST (owner) creates or rotates it, DELETE disables it.

    The URL and secret are answered once, by the POST that made them.
    """
    manage = request.method != "GET"
    workflow = workflow_for_user(request.user, workflow_id, manage=manage)
    if request.method == "DELETE":
        triggers.disable_webhook(workflow.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "GET":
        return Response(_webhook(workflow))
    workflow, secret = triggers.create_webhook(workflow.pk)
    url = request.build_absolute_uri(
        reverse("workflow-hook", kwargs={"workflow_id": workflow.pk, "secret": secret})
    )
    return Response(
        {**_webhook(workflow), "url": url, "secret": secret},
        status=status.HTTP_201_CREATED,
    )


def _webhook(workflow: Workflow) -> dict:
    return {
        "enabled": workflow.has_webhook(),
        "rotated_at": workflow.webhook_rotated_at,
        "header": triggers.WEBHOOK_HEADER,
    }


@extend_schema(
    request=OpenApiTypes.OBJECT,
    responses={
        202: RunStarted,
        404: OpenApiResponse(description="unknown workflow or wrong secret"),
        409: OpenApiResponse(description="the workflow cannot run now"),
    },
    auth=[],
    operation_id="hooks_call_with_secret_in_url",
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def webhook_call(request, workflow_id, secret):
    """Start a run of a workflow; the secret is the last part of the URL.

    The JSON body, if any, is kept as the run's trigger data.
    """
    return _call_webhook(request, workflow_id, secret)


@extend_schema(
    request=OpenApiTypes.OBJECT,
    parameters=[
        OpenApiParameter(
            triggers.WEBHOOK_HEADER,
            str,
            OpenApiParameter.HEADER,
            required=True,
            description="The webhook secret.",
        )
    ],
    responses={
        202: RunStarted,
        404: OpenApiResponse(description="unknown workflow or wrong secret"),
        409: OpenApiResponse(description="the workflow cannot run now"),
    },
    auth=[],
    operation_id="hooks_call_with_secret_in_header",
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def webhook_call_with_header(request, workflow_id):
    """Start a run of a workflow; the secret is in X-KubeOrch-Webhook-Secret.

    The JSON body, if any, is kept as the run's trigger data.
    """
    secret = request.headers.get(triggers.WEBHOOK_HEADER, "")
    return _call_webhook(request, workflow_id, secret)


def _call_webhook(request, workflow_id, secret: str) -> Response:
    payload = request.data if isinstance(request.data, dict) else {}
    try:
        run = triggers.run_from_webhook(workflow_id, secret, dict(payload))
    except triggers.WebhookRefused:
        raise Http404("No such webhook.") from None
    return Response(
        {"run_id": run.pk, "version": run.version.number, "status": run.status},
        status=status.HTTP_202_ACCEPTED,
    )
