"""Celery beat's schedule for monitoring, merged into ``CELERY_BEAT_SCHEDULE`` by the settings.

The dispatcher runs every few seconds; how often each environment is checked is its own
``check_interval``. The notification sweep sends the announcements the broker could not take when a
status changed, and the retries. A message older than one period is dropped: the next one does its work.
"""

DISPATCH_EVERY_SECONDS = 5.0
NOTIFICATION_SWEEP_EVERY_SECONDS = 30.0

BEAT_SCHEDULE = {
    "monitoring-dispatch-due-checks": {
        "task": "portal.monitoring.tasks.dispatch_due_checks",
        "schedule": DISPATCH_EVERY_SECONDS,
        "options": {"expires": DISPATCH_EVERY_SECONDS},
    },
    "monitoring-send-due-notifications": {
        "task": "portal.monitoring.tasks.send_due_notifications",
        "schedule": NOTIFICATION_SWEEP_EVERY_SECONDS,
        "options": {"expires": NOTIFICATION_SWEEP_EVERY_SECONDS},
    },
}
