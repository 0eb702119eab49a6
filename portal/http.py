"""HTTP rules shared by every app's plain Django views (DRF views get theirs from DRF)."""

from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe


def public_read(view):
    """A public, read-only endpoint: GET and HEAD answer, any other method gets 405 with ``Allow``.

    CSRF is not asked first: the view never changes state, so there is nothing to forge, and a client
    sending another method learns that the method is wrong (405), not that a cookie is missing (403).
    """
    return csrf_exempt(require_safe(view))
