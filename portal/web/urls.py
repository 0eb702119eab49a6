from django.urls import include, path

from . import log, search, subscribe, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("verify/", views.verify, name="verify"),
    path("log/", log.log_page, name="log"),
    path("search/", search.search, name="search"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("subscribe/", subscribe.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", subscribe.confirm, name="subscribe_confirm"),
    path("subscribe/stop/<int:pk>/<str:token>/", subscribe.unsubscribe, name="unsubscribe"),
    path("deployments/<int:pk>/", views.deployment, name="deployment"),
    path("p/<slug:slug>/", views.project, name="project"),
    path("p/<slug:slug>/releases/<str:version>/", views.release, name="release"),
    path("p/<slug:slug>/<slug:env>/", views.environment, name="environment"),
]
