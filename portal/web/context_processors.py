"""Values every public template needs."""

from django.conf import settings


def site(request):
    return {"SITE_URL": settings.SITE_URL, "LOG_ORIGIN": settings.VITRINA_LOG_ORIGIN}
