"""Routes of the monitoring app, included at the site root."""

from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path(".well-known/vitrina/deployment", views.deployment, name="deployment"),
    path(
        "api/v1/projects/<slug:slug>/environments/<slug:env>/observations/",
        views.ObservationList.as_view(),
        name="observations",
    ),
]
