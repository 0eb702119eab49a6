"""Settings of the Celery worker and beat that the end-to-end tests and benchmarks start as processes.

The portal's own settings (database and broker from ``DATABASE_URL`` and ``REDIS_URL``), plus the
monitoring beat schedule at a test pace and the live-check timeouts the hostile-endpoint tests expect.
"""

import os

from portal.monitoring.schedule import BEAT_SCHEDULE
from portal.settings import *  # noqa: F403

_DISPATCH_EVERY = float(os.environ.get("VITRINA_TEST_DISPATCH_EVERY", "0.5"))

CELERY_BEAT_SCHEDULE = {
    name: {**entry, "schedule": _DISPATCH_EVERY, "options": {"expires": _DISPATCH_EVERY}}
    for name, entry in BEAT_SCHEDULE.items()
}
VITRINA_LIVE_CONNECT_TIMEOUT = 1
VITRINA_LIVE_TOTAL_TIMEOUT = float(os.environ.get("VITRINA_TEST_LIVE_TIMEOUT", "2"))
# The e2e stack asks for 3 s (a silent site is amber quickly), the benchmarks for the portal's 30 s.
VITRINA_SERVED_TOTAL_TIMEOUT = float(os.environ.get("VITRINA_TEST_SERVED_TIMEOUT", "30"))
