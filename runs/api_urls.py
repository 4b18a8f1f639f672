from django.urls import path

from . import api_views

urlpatterns = [
    path("runs", api_views.RunHistory.as_view(), name="run-history"),
    path("runs/<uuid:run_id>", api_views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/cancel", api_views.run_cancel, name="run-cancel"),
]
