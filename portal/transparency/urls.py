"""The log's public URLs. Full paths, because they are a published contract (see docs/formats/)."""

from django.urls import path

from . import views

app_name = "transparency"

urlpatterns = [
    path("log/checkpoint", views.checkpoint, name="checkpoint"),
    path("log/tile/<path:path>", views.tile, name="tile"),
    path("api/v1/log/", views.LogInfoView.as_view(), name="log-info"),
    path("api/v1/log/entries/<str:index>", views.EntryView.as_view(), name="entry"),
    path("api/v1/log/proof/inclusion", views.InclusionProofView.as_view(), name="inclusion-proof"),
    path("api/v1/log/proof/consistency", views.ConsistencyProofView.as_view(), name="consistency-proof"),
]
