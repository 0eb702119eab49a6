"""URLs of what Vitrina's status is shared through: badges, JSON status, Atom feeds, and the ops endpoints."""

from django.urls import path

from portal.http import public_read

from . import badges, feeds, ops
from .page_cache import shared_page

app_name = "share"

urlpatterns = [
    path("badge/<slug:project>.svg", public_read(shared_page(badges.project_svg)), name="project-badge"),
    path("badge/<slug:project>.json", public_read(shared_page(badges.project_json)), name="project-status"),
    path(
        "badge/<slug:project>/<slug:env>.svg",
        public_read(shared_page(badges.environment_svg)),
        name="environment-badge",
    ),
    path(
        "badge/<slug:project>/<slug:env>.json",
        public_read(shared_page(badges.environment_json)),
        name="environment-status",
    ),
    path(
        "feeds/deployments.atom", public_read(shared_page(feeds.DeploymentsFeed())), name="deployments-feed"
    ),
    path("feeds/status.atom", public_read(shared_page(feeds.StatusFeed())), name="status-feed"),
    path(
        "p/<slug:slug>/feeds/deployments.atom",
        public_read(shared_page(feeds.DeploymentsFeed())),
        name="project-deployments-feed",
    ),
    path(
        "p/<slug:slug>/feeds/status.atom",
        public_read(shared_page(feeds.StatusFeed())),
        name="project-status-feed",
    ),
    path("metrics", public_read(ops.metrics), name="metrics"),
    path("healthz", public_read(ops.healthz), name="healthz"),
]
