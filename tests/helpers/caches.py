"""The cache settings the portal builds outside tests, for tests about the real shared cache.

Tests normally run on the memory cache (``TESTING`` in the settings); a test about Redis as the cache
swaps in exactly what production would use for a given ``REDIS_URL``, timeouts included.
"""

import json
import os
import subprocess
import sys


def production_caches(redis_url):
    """The ``CACHES`` setting the portal's settings build for ``REDIS_URL`` outside tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    env.update(REDIS_URL=redis_url, VITRINA_TESTING="0", DEBUG="1", DJANGO_SETTINGS_MODULE="portal.settings")
    env.pop("CACHE_URL", None)
    code = "import json; from django.conf import settings; print(json.dumps(settings.CACHES))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    caches = json.loads(out.stdout)
    assert caches["default"]["BACKEND"].endswith("RedisCache"), caches
    return caches
