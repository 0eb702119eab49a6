"""Top-level URL map: the public pages, the API, the log and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("", include("portal.transparency.urls")),
    path("", include("portal.monitoring.urls")),
    path("", include("portal.web.share_urls")),
    path("", include("portal.web.urls")),
]

handler404 = "portal.http.not_found"
handler500 = "portal.http.server_error"
