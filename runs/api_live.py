"""REST API for deployed nodes: pods, logs, diagnosis and fixes."""

import logging

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from workflows.canvas import CanvasInvalid

from . import live_actions, logs

logger = logging.getLogger(__name__)

LOG_PARAMETERS = [
    OpenApiParameter("pod", str, description="One pod; empty: every pod, merged."),
    OpenApiParameter("container", str, description="Empty: the pod's default."),
    OpenApiParameter(
        "tail", int, description=f"Last lines (default {logs.DEFAULT_TAIL})."
    ),
    OpenApiParameter("previous", bool, description="The previous container's log."),
    OpenApiParameter("since", int, description="Only lines of the last N seconds."),
    OpenApiParameter("timestamps", bool, description="Prefix each line with its time."),
    OpenApiParameter("download", bool, description="Send as an attachment."),
]


class LogQuery(serializers.Serializer):
    """The query string of the logs endpoint, checked."""

    pod = serializers.CharField(required=False, allow_blank=True, max_length=253)
    container = serializers.CharField(required=False, allow_blank=True, max_length=63)
    tail = serializers.IntegerField(
        required=False, min_value=0, max_value=logs.MAX_TAIL, default=logs.DEFAULT_TAIL
    )
    previous = serializers.BooleanField(required=False, default=False)
    since = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    timestamps = serializers.BooleanField(required=False, default=False)
    download = serializers.BooleanField(required=False, default=False)


class FixRequest(serializers.Serializer):
    """The body of a fix request."""

    fix_id = serializers.CharField(max_length=100)
    run = serializers.BooleanField(required=False, default=False)
    preview = serializers.BooleanField(required=False, default=False)
    inputs = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=4096),
        required=False,
        default=dict,
    )


PodList = inline_serializer(
    "NodePods",
    {
        "node_id": serializers.CharField(),
        "namespace": serializers.CharField(),
        "pods": serializers.ListField(child=serializers.DictField()),
    },
)


@extend_schema(responses=PodList)
@api_view(["GET"])
def node_pods(request, workflow_id, node_id):
    """The pods of a deployed node, with their containers."""
    target = live_actions.node_target_for_user(request.user, workflow_id, node_id)
    try:
        pods = live_actions.node_pods(target)
    except logs.LogsUnavailable as error:
        return Response({"detail": error.message}, status=status.HTTP_502_BAD_GATEWAY)
    return Response(
        {
            "node_id": target.node_id,
            "namespace": target.namespace,
            "pods": [p.as_dict() for p in pods],
        }
    )


@extend_schema(
    parameters=LOG_PARAMETERS, responses={(200, "text/plain"): OpenApiTypes.STR}
)
@api_view(["GET"])
def node_logs(request, workflow_id, node_id):
    """A node's pod logs as text: one pod, or every pod merged with a prefix."""
    target = live_actions.node_target_for_user(request.user, workflow_id, node_id)
    query = LogQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    wanted = query.validated_data
    options = logs.LogOptions(
        container=wanted.get("container") or None,
        tail_lines=wanted["tail"],
        previous=wanted["previous"],
        since_seconds=wanted.get("since"),
    )
    try:
        lines, pod_count = live_actions.read_node_logs(
            target, options, wanted.get("pod")
        )
    except logs.PodNotFound as missing:
        return Response({"detail": str(missing)}, status=status.HTTP_404_NOT_FOUND)
    except logs.LogsUnavailable as error:
        code = (
            status.HTTP_400_BAD_REQUEST
            if error.code == 400
            else status.HTTP_502_BAD_GATEWAY
        )
        return Response({"detail": error.message}, status=code)
    text = "".join(
        line.render(prefix=pod_count > 1, timestamps=wanted["timestamps"]) + "\n"
        for line in lines
    )
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    if wanted["download"]:
        name = wanted.get("pod") or target.node_id
        suffix = "-previous" if wanted["previous"] else ""
        response["Content-Disposition"] = f'attachment; filename="{name}{suffix}.log"'
    return response


Diagnosed = inline_serializer(
    "NodeDiagnosis",
    {
        "node_id": serializers.CharField(),
        "state": serializers.CharField(),
        "message": serializers.CharField(),
        "diagnosis": serializers.DictField(allow_null=True),
    },
)


@extend_schema(responses=Diagnosed)
@api_view(["GET"])
def node_diagnosis(request, workflow_id, node_id):
    """What is wrong with a node, the evidence, and the fixes on offer."""
    target = live_actions.node_target_for_user(request.user, workflow_id, node_id)
    health, diagnosis = live_actions.diagnose_node(target)
    body = {
        "node_id": target.node_id,
        "state": live_actions.node_state_of(health),
        "message": health.message if health else "the cluster did not answer",
        "warnings": list(health.warnings) if health else [],
        "diagnosis": diagnosis.as_dict() if diagnosis else None,
    }
    if diagnosis:
        body["diagnosis"]["fixes"] = [
            {
                **fix.as_dict(),
                "diff": _diff_or_none(target, diagnosis, fix.id),
            }
            for fix in diagnosis.fixes
        ]
    return Response(body)


def _diff_or_none(target, diagnosis, fix_id: str) -> dict | None:
    """Return a fix's diff on the current canvas (None: it no longer applies)."""
    try:
        return live_actions.preview_fix(target, diagnosis, fix_id)
    except live_actions.FixRefused:
        return None


FixApplied = inline_serializer(
    "FixApplied",
    {
        "fix_id": serializers.CharField(),
        "diff": serializers.DictField(),
        "revision": serializers.IntegerField(),
        "state": serializers.CharField(),
        "run_id": serializers.UUIDField(allow_null=True),
    },
)


@extend_schema(request=FixRequest, responses=FixApplied)
@api_view(["POST"])
def node_fix(request, workflow_id, node_id):
    """Apply an offered fix to the workflow (preview: only show the diff)."""
    target = live_actions.node_target_for_user(request.user, workflow_id, node_id)
    body = FixRequest(data=request.data)
    body.is_valid(raise_exception=True)
    wanted = body.validated_data
    try:
        if wanted["preview"]:
            _, diagnosis = live_actions.diagnose_node(target)
            diff = live_actions.preview_fix(
                target, diagnosis, wanted["fix_id"], wanted["inputs"]
            )
            return Response({"fix_id": wanted["fix_id"], "diff": diff})
        result = live_actions.apply_fix(
            target,
            wanted["fix_id"],
            user=request.user,
            inputs=wanted["inputs"],
            run=wanted["run"],
        )
    except live_actions.FixRefused as refused:
        return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
    except CanvasInvalid as invalid:
        return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
    return Response(result.as_dict())
