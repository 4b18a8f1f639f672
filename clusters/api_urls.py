"""Cluster API routes, included under /v1/api/."""

from rest_framework.routers import SimpleRouter

from . import api_views

app_name = "clusters_api"

router = SimpleRouter(trailing_slash="/?")
router.register("clusters", api_views.ClusterViewSet, basename="cluster")

urlpatterns = router.urls
