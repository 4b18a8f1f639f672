"""API shapes of clusters: what is shown, and the input of each auth method.

No serializer here has a field that reads credentials back: they go in, sealed,
and never come out.
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from . import connection
from .connection import CredentialsError
from .models import Cluster

CREDENTIAL_INPUTS = (
    "kubeconfig",
    "server",
    "token",
    "ca_data",
    "insecure_skip_tls_verify",
    "tls_server_name",
    "client_certificate_data",
    "client_key_data",
)


class ClusterSerializer(serializers.ModelSerializer):
    """A cluster as every API answer shows it: details and status, no secrets."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    shared_with = serializers.SerializerMethodField()
    can_manage = serializers.SerializerMethodField()

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "description",
            "auth_method",
            "server",
            "is_simulated",
            "is_public",
            "owner",
            "shared_with",
            "can_manage",
            "reachable",
            "kubernetes_version",
            "node_count",
            "namespaces",
            "last_checked_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_shared_with(self, cluster: Cluster) -> list[str]:
        # Sorted in Python so a prefetched list needs no further query.
        return sorted(user.username for user in cluster.shared_with.all())

    def get_can_manage(self, cluster: Cluster) -> bool:
        request = self.context.get("request")
        return bool(request) and cluster.is_managed_by(request.user)


class CredentialsInputSerializer(serializers.Serializer):
    """The fields of every auth method; which ones apply depends on the method."""

    auth_method = serializers.ChoiceField(
        choices=Cluster.AuthMethod.choices,
        required=False,
        help_text="Implied by the fields when left out: kubeconfig, token, or "
        "client_certificate.",
    )
    kubeconfig = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        style={"base_template": "textarea.html"},
        help_text="Kubeconfig YAML; its current-context is used.",
    )
    server = serializers.CharField(
        required=False, write_only=True, help_text="API server URL."
    )
    token = serializers.CharField(
        required=False, write_only=True, help_text="Bearer or service account token."
    )
    ca_data = serializers.CharField(
        required=False,
        write_only=True,
        help_text="The server's CA certificate, PEM or base64 of PEM.",
    )
    insecure_skip_tls_verify = serializers.BooleanField(
        required=False, write_only=True, default=False
    )
    tls_server_name = serializers.CharField(required=False, write_only=True)
    client_certificate_data = serializers.CharField(
        required=False, write_only=True, help_text="PEM or base64 of PEM."
    )
    client_key_data = serializers.CharField(
        required=False, write_only=True, help_text="PEM or base64 of PEM."
    )
    test = serializers.BooleanField(
        required=False,
        default=True,
        write_only=True,
        help_text="Probe the cluster before saving and refuse it if it fails.",
    )

    def credentials_given(self, attrs: dict) -> bool:
        return any(name in self.initial_data for name in CREDENTIAL_INPUTS)

    def validate_credentials(self, attrs: dict) -> dict:
        """Put the method and its cleaned credentials into `attrs`."""
        method = attrs.get("auth_method") or _implied_method(attrs)
        given = {name: attrs[name] for name in CREDENTIAL_INPUTS if name in attrs}
        if method != Cluster.AuthMethod.KUBECONFIG and "kubeconfig" in given:
            raise serializers.ValidationError(
                {"kubeconfig": [f"not a field of the {method} auth method"]}
            )
        if not given.get("insecure_skip_tls_verify"):
            given.pop("insecure_skip_tls_verify", None)
        try:
            credentials = connection.clean_credentials(method, given)
        except CredentialsError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc
        for name in CREDENTIAL_INPUTS:
            attrs.pop(name, None)
        attrs["auth_method"] = method
        attrs["credentials"] = credentials
        return attrs


def _implied_method(attrs: dict) -> str:
    if "kubeconfig" in attrs:
        return Cluster.AuthMethod.KUBECONFIG
    if "client_certificate_data" in attrs or "client_key_data" in attrs:
        return Cluster.AuthMethod.CLIENT_CERTIFICATE
    return Cluster.AuthMethod.TOKEN


class ClusterCreateSerializer(CredentialsInputSerializer):
    """Register a cluster: a name, and a kubeconfig or another method's fields."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        return self.validate_credentials(attrs)


class ClusterUpdateSerializer(CredentialsInputSerializer):
    """Rename or describe a cluster; credentials given are replaced and tested."""

    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs: dict) -> dict:
        if self.credentials_given(attrs):
            return self.validate_credentials(attrs)
        if "auth_method" in attrs:
            raise serializers.ValidationError(
                {"auth_method": ["give the new method's credentials with it"]}
            )
        attrs.pop("insecure_skip_tls_verify", None)
        return attrs


class ShareSerializer(serializers.Serializer):
    """Usernames to share a cluster with (or to take it away from)."""

    usernames = serializers.ListField(
        child=serializers.CharField(max_length=150), allow_empty=False, max_length=100
    )

    def validate_usernames(self, usernames: list[str]) -> list:
        users = list(get_user_model().objects.filter(username__in=usernames))
        missing = sorted(set(usernames) - {user.username for user in users})
        if missing:
            raise serializers.ValidationError(f"no such user: {', '.join(missing)}")
        return users
