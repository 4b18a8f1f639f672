"""`Authorization: Bearer <token>` for the REST API."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import ApiToken


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = ApiToken.objects.find(header[1].decode(errors="replace"))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        self._touch(token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword

    @staticmethod
    def _touch(token: ApiToken) -> None:
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).seconds > 60:
            token.last_used_at = now
            token.save(update_fields=["last_used_at"])


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes bearer tokens in the OpenAPI schema."""

    target_class = "kubeorch.authentication.BearerTokenAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py apitoken USERNAME`.",
        }
