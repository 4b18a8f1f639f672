"""REST API for clusters: register, list, change, check, share, delete."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from . import actions
from .models import Cluster
from .serializers import (
    ClusterCreateSerializer,
    ClusterSerializer,
    ClusterUpdateSerializer,
    ShareSerializer,
)

# Actions that change a cluster rather than use it: owner only.
MANAGING_ACTIONS = {"partial_update", "destroy", "share", "unshare"}


class ClusterViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Clusters the user may use: owned, shared with them, or public."""

    serializer_class = ClusterSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self):
        return (
            Cluster.objects.usable_by(self.request.user)
            .select_related("owner")
            .prefetch_related("shared_with")
        )

    def get_object(self) -> Cluster:
        return actions.cluster_for_user(
            self.request.user,
            self.kwargs["pk"],
            manage=self.action in MANAGING_ACTIONS,
        )

    @extend_schema(
        request=ClusterCreateSerializer,
        responses={201: ClusterSerializer},
        description="Register a cluster. It is probed first and refused (400, "
        "naming the field) if it does not answer, unless `test` is false.",
    )
    def create(self, request):
        data = _valid(ClusterCreateSerializer, request.data)
        cluster = _run(
            actions.register_cluster,
            request.user,
            name=data["name"],
            description=data["description"],
            auth_method=data["auth_method"],
            credentials=data["credentials"],
            test=data["test"],
        )
        return Response(self._shown(cluster), status=201)

    @extend_schema(request=ClusterUpdateSerializer, responses=ClusterSerializer)
    def partial_update(self, request, pk=None):
        cluster = self.get_object()
        data = _valid(ClusterUpdateSerializer, request.data, partial=True)
        cluster = _run(
            actions.update_cluster,
            cluster,
            name=data.get("name"),
            description=data.get("description"),
            auth_method=data.get("auth_method"),
            credentials=data.get("credentials"),
            test=data.get("test", True),
        )
        return Response(self._shown(cluster))

    def perform_destroy(self, cluster: Cluster) -> None:
        actions.delete_cluster(cluster)

    @extend_schema(request=None, responses=ClusterSerializer)
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        """Probe the cluster now and answer its fresh status."""
        cluster = actions.check_cluster(self.get_object())
        return Response(self._shown(cluster))

    @extend_schema(request=ShareSerializer, responses=ClusterSerializer)
    @action(detail=True, methods=["post"])
    def share(self, request, pk=None):
        """Let the named users see and deploy to the cluster."""
        cluster = self.get_object()
        users = _valid(ShareSerializer, request.data)["usernames"]
        return Response(self._shown(actions.share_cluster(cluster, users)))

    @extend_schema(request=ShareSerializer, responses=ClusterSerializer)
    @action(detail=True, methods=["post"])
    def unshare(self, request, pk=None):
        """Take the cluster away from the named users."""
        cluster = self.get_object()
        users = _valid(ShareSerializer, request.data)["usernames"]
        return Response(self._shown(actions.unshare_cluster(cluster, users)))

    def _shown(self, cluster: Cluster) -> dict:
        fresh = self.get_queryset().get(pk=cluster.pk)
        return ClusterSerializer(fresh, context=self.get_serializer_context()).data


def _valid(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _run(action_function, *args, **kwargs):
    """Call an action, answering its ValidationError as a 400 per field."""
    try:
        return action_function(*args, **kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc
