"""Celery beat entries of the log, merged into ``CELERY_BEAT_SCHEDULE`` by the settings.

``expires`` drops a run that waited longer than its interval: the next one does the same work.
"""

BEAT_SCHEDULE = {
    # The backstop of the integration each commit tries (services.integrate_soon): an entry whose commit
    # found another process integrating, or came within the interval, has its index within a second.
    "transparency-integrate": {
        "task": "portal.transparency.tasks.integrate",
        "schedule": 1.0,
        "options": {"expires": 1.0},
    },
    # Asking witnesses to cosign the latest checkpoint; each is held by one run at a time (its retry_at).
    "transparency-witness": {
        "task": "portal.transparency.tasks.witness",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    },
    "transparency-audit": {
        "task": "portal.transparency.tasks.audit",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
}
