"""URLs of what Vitrina's status is shared through: badges, JSON status, Atom feeds, and the ops endpoints."""

from django.urls import path

from . import badges, feeds, ops

app_name = "share"

urlpatterns = [
    path("badge/<slug:project>.svg", badges.project_svg, name="project-badge"),
    path("badge/<slug:project>.json", badges.project_json, name="project-status"),
    path("badge/<slug:project>/<slug:env>.svg", badges.environment_svg, name="environment-badge"),
    path("badge/<slug:project>/<slug:env>.json", badges.environment_json, name="environment-status"),
    path("feeds/deployments.atom", feeds.DeploymentsFeed(), name="deployments-feed"),
    path("feeds/status.atom", feeds.StatusFeed(), name="status-feed"),
    path("p/<slug:slug>/feeds/deployments.atom", feeds.DeploymentsFeed(), name="project-deployments-feed"),
    path("p/<slug:slug>/feeds/status.atom", feeds.StatusFeed(), name="project-status-feed"),
    path("metrics", ops.metrics, name="metrics"),
    path("healthz", ops.healthz, name="healthz"),
]
