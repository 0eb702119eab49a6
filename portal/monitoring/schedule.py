"""Celery beat's schedule for monitoring, merged into ``CELERY_BEAT_SCHEDULE`` by the settings.

The dispatcher runs every few seconds; how often each environment is checked is its own
``check_interval``. The notification sweep sends the announcements the broker could not take when a
status changed, and the retries. The release sweep asks the repository about releases it never
answered about. A message older than one period is dropped: the next one does its work.
"""

DISPATCH_EVERY_SECONDS = 5.0
NOTIFICATION_SWEEP_EVERY_SECONDS = 30.0
# Releases whose repository check never got an answer (the broker was down at registration, the
# repository out of reach) are asked again this often.
RELEASE_CHECK_EVERY_SECONDS = 300.0

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
    "monitoring-check-unanswered-releases": {
        "task": "portal.monitoring.tasks.check_unanswered_releases",
        "schedule": RELEASE_CHECK_EVERY_SECONDS,
        "options": {"expires": RELEASE_CHECK_EVERY_SECONDS},
    },
}
