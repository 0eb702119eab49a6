"""A task that records each delivery, and a publisher, for the embedded broker's stress test.

The worker imports this module (``celery -A portal worker -I tests.portal.broker_probe``); each
publisher is a separate process (``python -m tests.portal.broker_probe PUBLISHER COUNT``) sending
through the portal's own Celery app, as gunicorn and beat do.
"""

import os
import sys

from celery import shared_task

RECORD_ENV = "VITRINA_TEST_BROKER_RECORD"


@shared_task(name="tests.broker_probe.record")
def record(token):
    """Append ``token`` to the record file: one short ``O_APPEND`` write, so workers never interleave."""
    fd = os.open(os.environ[RECORD_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{token}\n".encode())
    finally:
        os.close(fd)


def publish(publisher, count):
    from portal.celery import app

    for sequence in range(count):
        app.send_task(record.name, args=[f"{publisher}:{sequence}"])


if __name__ == "__main__":
    publish(sys.argv[1], int(sys.argv[2]))
