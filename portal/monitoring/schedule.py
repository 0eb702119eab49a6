"""Celery beat's schedule for monitoring, merged into ``CELERY_BEAT_SCHEDULE`` by the settings.

The dispatcher runs every few seconds; how often each environment is checked is its own
``check_interval``. A dispatch message older than one period is dropped: the next one does its work.
"""

DISPATCH_EVERY_SECONDS = 5.0

BEAT_SCHEDULE = {
    "monitoring-dispatch-due-checks": {
        "task": "portal.monitoring.tasks.dispatch_due_checks",
        "schedule": DISPATCH_EVERY_SECONDS,
        "options": {"expires": DISPATCH_EVERY_SECONDS},
    },
}
