"""Whole public pages kept for a few seconds in each process, so a busy portal answers most visitors
without running a view, a query or a template.

A public page is the same for every visitor who reads it in the same language: it carries no CSRF
token, no session and no name. A view opts in with ``@shared_page``; ``SharedPageCache``, placed before
the session and locale middleware, then keeps the page's bytes and headers under its language and full
path (query string included) for ``VITRINA_PAGE_CACHE_SECONDS``, and answers the next visitors from
memory. So a light reaches a cached page at most that many seconds late, as it already did through the
pages' cached fragments.

What is never kept: anything but a 200 answer to GET or HEAD, a response that sets a cookie or varies
on cookies (it is somebody's own), a streaming or oversized body, and any request that carries a
session cookie (an operator signed in sees the live page). The store is a bounded LRU dictionary per
process, so neither long query strings nor many languages can make it grow without end. Zero seconds
turns it off (the tests' default: they change records between two reads).
"""

import threading
import time
from collections import OrderedDict
from functools import wraps

from django.conf import settings
from django.http import HttpResponse
from django.utils import translation

# Enough for every page of a portal with a few hundred projects in two languages.
MAX_PAGES = 2000
MAX_BODY = 1024 * 1024
# The headers of a kept page that are given again on a hit; others (Date, Server) are the server's own.
KEPT_HEADERS = (
    "Content-Type",
    "Content-Language",
    "Vary",
    "Cache-Control",
    "Content-Disposition",
    "X-Frame-Options",
    "Access-Control-Allow-Origin",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)

_lock = threading.Lock()
_pages = OrderedDict()  # (language, path) -> (expires, status, headers, body)


def shared_page(view):
    """Mark ``view``'s successful answers as the same for every anonymous reader of a language."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.shared_page = True
        return response

    return wrapped


def clear():
    """Forget every kept page of this process."""
    with _lock:
        _pages.clear()


class SharedPageCache:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        seconds = settings.VITRINA_PAGE_CACHE_SECONDS
        if seconds <= 0 or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            return self.get_response(request)
        key = (translation.get_language_from_request(request), request.get_full_path())
        now = time.monotonic()
        with _lock:
            kept = _pages.get(key)
            if kept is not None and kept[0] > now:
                _pages.move_to_end(key)
            else:
                kept = None
        if kept is not None:
            return answer(kept)
        response = self.get_response(request)
        if keepable(response):
            with _lock:
                _pages[key] = (
                    now + seconds,
                    response.status_code,
                    [(name, response[name]) for name in KEPT_HEADERS if response.has_header(name)],
                    response.content,
                )
                _pages.move_to_end(key)
                while len(_pages) > MAX_PAGES:
                    _pages.popitem(last=False)
        return response


def keepable(response):
    if not getattr(response, "shared_page", False) or response.status_code != 200:
        return False
    if response.streaming or response.cookies or len(response.content) > MAX_BODY:
        return False
    vary = {part.strip().lower() for part in response.get("Vary", "").split(",")}
    return "cookie" not in vary and "*" not in vary


def answer(kept):
    _expires, status, headers, body = kept
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    return response
