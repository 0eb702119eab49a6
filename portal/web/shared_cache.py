"""The one way the web layer uses Django's shared cache: a cache that fails is skipped, never fatal.

The cache only saves work: every answer the pages, badges and feeds keep in it can be computed again
from the database. So when its backend fails (Redis stopped, unreachable or timing out; a file cache on
a full disk) each call here answers as a miss and the caller computes from the database. The first
failure logs one warning and the cache is then left alone for ``RETRY_SECONDS`` in this process: an
outage costs one warning and one failed attempt per period, not a connection attempt (or a socket
timeout) on every call of every request. The first call that works again logs that the cache is back.

    value = shared_cache.get(key, default)     # default when missing or when the cache is down
    shared_cache.set(key, value, seconds)      # nothing when the cache is down
    shared_cache.add(key, value, seconds)      # True when added, or when the cache is down
    shared_cache.delete(key)
"""

import logging
import threading
import time

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 30
# What Django's Redis and file-based backends raise when their store fails. Anything else (a value
# that cannot be pickled, a bad key) is our bug and is not hidden.
BACKEND_ERRORS = (RedisError, OSError)

_lock = threading.Lock()
_down_until = None  # monotonic time before which this process does not try the cache; None: cache up


def get(key, default=None):
    """The cached value of ``key``; ``default`` when it is missing or the cache is down."""
    return _call(default, cache.get, key, default)


def set(key, value, timeout):
    """Keep ``value`` under ``key`` for ``timeout`` seconds; nothing when the cache is down."""
    _call(None, cache.set, key, value, timeout)


def add(key, value, timeout):
    """Keep ``value`` under ``key`` only if the key is absent; True if kept.

    True also when the cache is down: callers use ``add`` to claim a piece of work that others then
    skip, and with no shared cache there are no others to share with, so the caller does the work.
    """
    return _call(True, cache.add, key, value, timeout)


def delete(key):
    """Forget ``key``; nothing when the cache is down."""
    _call(None, cache.delete, key)


def reset():
    """Forget a past outage: the next call tries the cache (for tests that swap the cache)."""
    global _down_until
    with _lock:
        _down_until = None


def _call(fallback, method, *args):
    global _down_until
    if _down_until is not None and time.monotonic() < _down_until:
        return fallback
    try:
        result = method(*args)
    except BACKEND_ERRORS as exc:
        with _lock:
            first = _down_until is None or time.monotonic() >= _down_until
            _down_until = time.monotonic() + RETRY_SECONDS
        if first:
            logger.warning(
                "The shared cache failed (%s: %s); serving from the database without it, trying it again "
                "in %d s.",
                type(exc).__name__,
                exc,
                RETRY_SECONDS,
            )
        return fallback
    if _down_until is not None:
        with _lock:
            was_down, _down_until = _down_until is not None, None
        if was_down:
            logger.info("The shared cache is back; using it again.")
    return result
