"""Cluster API routes, included under /v1/api/."""

from rest_framework.routers import SimpleRouter

from . import api_views

app_name = "clusters_api"

router = SimpleRouter()
# The API is written /v1/api/clusters/<id>/check; a trailing slash is accepted
# too (the constructor only knows "/" or nothing).
router.trailing_slash = "/?"
router.register("clusters", api_views.ClusterViewSet, basename="cluster")

urlpatterns = router.urls
