from django.urls import include, path

from . import language, log, search, subscribe, views
from .page_cache import shared_page

app_name = "web"

urlpatterns = [
    path("", shared_page(views.home), name="home"),
    path("verify/", shared_page(views.verify), name="verify"),
    path("log/", shared_page(log.log_page), name="log"),
    path("search/", shared_page(search.search), name="search"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("language/<str:code>/", language.choose, name="language"),
    path("subscribe/", subscribe.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", subscribe.confirm, name="subscribe_confirm"),
    path("subscribe/stop/<int:pk>/<str:token>/", subscribe.unsubscribe, name="unsubscribe"),
    path("deployments/<int:pk>/", shared_page(views.deployment), name="deployment"),
    path("p/<slug:slug>/", shared_page(views.project), name="project"),
    path("p/<slug:slug>/releases/<str:version>/", shared_page(views.release), name="release"),
    path("p/<slug:slug>/<slug:env>/", shared_page(views.environment), name="environment"),
]
