"""Kubernetes clusters that workflows deploy to."""

import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from kubeorch import crypto


class ClusterQuerySet(models.QuerySet):
    def usable_by(self, user) -> "ClusterQuerySet":
        """Clusters a user owns, was given, or that every user may use."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(owner=user) | Q(shared_with=user) | Q(is_public=True)
        ).distinct()


class Cluster(models.Model):
    class AuthMethod(models.TextChoices):
        KUBECONFIG = "kubeconfig", "Kubeconfig"
        # A bearer token with the server URL and its CA.
        TOKEN = "token", "Bearer token"
        CLIENT_CERTIFICATE = "client_certificate", "Client certificate"
        # A service account's token, used like a bearer token.
        SERVICE_ACCOUNT = "service_account", "Service account token"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clusters"
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_clusters"
    )
    is_public = models.BooleanField(
        default=False, help_text="Every user may deploy to it (the simulated cluster)."
    )
    is_simulated = models.BooleanField(default=False)
    auth_method = models.CharField(max_length=20, choices=AuthMethod.choices)
    server = models.URLField(max_length=500, blank=True)
    # JSON of the method's fields (kubeconfig text, token, CA, certificate,
    # key), sealed as a whole; never shown.
    sealed_credentials = models.TextField(editable=False)

    last_checked_at = models.DateTimeField(null=True, blank=True)
    reachable = models.BooleanField(null=True)
    kubernetes_version = models.CharField(max_length=50, blank=True)
    node_count = models.PositiveIntegerField(null=True, blank=True)
    namespaces = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], name="cluster_name_unique_per_owner"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def set_credentials(self, credentials: dict) -> None:
        self.sealed_credentials = crypto.seal(json.dumps(credentials))

    def credentials(self) -> dict:
        return json.loads(crypto.unseal(self.sealed_credentials))

    def is_managed_by(self, user) -> bool:
        """Whether the user may change or delete the cluster (not just use it)."""
        return user.is_authenticated and self.owner_id == user.pk
