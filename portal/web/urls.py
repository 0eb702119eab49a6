from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/", views.project, name="project"),
    path("p/<slug:slug>/<slug:env>/", views.environment, name="environment"),
    path("p/<slug:slug>/releases/<str:version>/", views.release, name="release"),
    path("deployments/<int:pk>/", views.deployment, name="deployment"),
]
