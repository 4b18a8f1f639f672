"""Top-level URLs: the admin, the REST API under /v1/api/ and its schema."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from kubeorch.login import LoginView

api_patterns = [
    path("", include("workflows.api_urls")),
    path("", include("runs.api_urls")),
    path("", include("runs.api_live_urls")),
    path("", include("clusters.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before Django's own login view: this one is rate limited.
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("v1/api/", include(api_patterns)),
    path("", include("clusters.urls")),
    path("", include("workflows.urls")),
    path("", include("runs.urls")),
]
