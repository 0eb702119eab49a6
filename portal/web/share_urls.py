"""URLs of what Vitrina's status is shared through: badges, JSON status, Atom feeds, and the ops endpoints."""

from django.urls import path

from . import badges

app_name = "share"

urlpatterns = [
    path("badge/<slug:project>.svg", badges.project_svg, name="project-badge"),
    path("badge/<slug:project>.json", badges.project_json, name="project-status"),
    path("badge/<slug:project>/<slug:env>.svg", badges.environment_svg, name="environment-badge"),
    path("badge/<slug:project>/<slug:env>.json", badges.environment_json, name="environment-status"),
]
