"""Browser pages."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "workflows"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False), name="home"),
]
