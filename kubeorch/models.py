"""API tokens: only a hash is stored, the token itself is shown once."""

import hashlib
import secrets

from django.conf import settings
from django.db import models

TOKEN_PREFIX = "ko_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def issue(self, user, name: str = "default") -> tuple["ApiToken", str]:
        """Create a token for a user and return it with its clear text."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = self.create(
            user=user, name=name, key_hash=hash_token(token), prefix=token[:10]
        )
        return record, token

    def find(self, token: str) -> "ApiToken | None":
        return self.select_related("user").filter(key_hash=hash_token(token)).first()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="default")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=10, editable=False, help_text="First characters, to recognise it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} · {self.name} ({self.prefix}…)"
