"""The API's own routes under /api/v1/, the proof bundles among them. The log and the observations are
routed by their apps (``portal.transparency.urls``, ``portal.monitoring.urls``) under the same prefix."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import bundles, views

app_name = "api"

urlpatterns = [
    path("releases/", views.ReleaseCreateView.as_view(), name="release-create"),
    path("releases/<int:pk>/", views.ReleaseDetailView.as_view(), name="release-detail"),
    path("releases/<int:pk>/bundle", bundles.ReleaseBundleView.as_view(), name="release-bundle"),
    path("deployments/", views.DeploymentCreateView.as_view(), name="deployment-create"),
    path("deployments/<int:pk>/bundle", bundles.DeploymentBundleView.as_view(), name="deployment-bundle"),
    path("notes/", views.NoteCreateView.as_view(), name="note-create"),
    path("notes/<int:pk>/bundle", bundles.NoteBundleView.as_view(), name="note-bundle"),
    path("observer-reports/", views.ObserverReportCreateView.as_view(), name="observer-report-create"),
    path(
        "observer-reports/<int:pk>/bundle",
        bundles.ObserverReportBundleView.as_view(),
        name="observer-report-bundle",
    ),
    path("observers/", views.ObserverListView.as_view(), name="observer-list"),
    path("rebuilds/", views.RebuildCreateView.as_view(), name="rebuild-create"),
    path("rebuilds/<int:pk>/answer", views.RebuildAnswerCreateView.as_view(), name="rebuild-answer"),
    path("rebuilders/", views.RebuilderListView.as_view(), name="rebuilder-list"),
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<slug:slug>/releases/", views.ProjectReleaseListView.as_view(), name="project-releases"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # A page in the site's layout and language; its template starts Swagger UI from a static file.
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
]
