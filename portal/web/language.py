"""The language switch: a plain link per language, so a public page holds nothing of its reader's own.

Django's ``set_language`` takes a POST with a CSRF token, and a token in the header of every page makes
each page somebody's own: no page could then be kept and answered to the next reader
(``page_cache``). Choosing a language changes nothing but the reader's own display, so nothing is left
to forge, and a GET link is enough. The POST form's address (``/i18n/setlang/``) keeps working.
"""

from django.conf import settings
from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme

from portal.http import public_read

LANGUAGES = dict(settings.LANGUAGES)
ONE_YEAR = 365 * 24 * 3600


@public_read
def choose(request, code):
    """Remember ``code`` as the reader's language (a cookie) and go back to ``next``, on this site only."""
    target = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        target = "/"
    response = HttpResponseRedirect(target)
    if code in LANGUAGES:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=ONE_YEAR,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    return response
