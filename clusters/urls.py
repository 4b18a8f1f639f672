"""Browser pages for clusters."""

from django.urls import path

from . import views

app_name = "clusters"

urlpatterns = [
    path("clusters/", views.cluster_list, name="list"),
    path("clusters/new/", views.cluster_new, name="new"),
]
