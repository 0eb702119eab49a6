"""A writer process of the sequencer tests: appends status entries, each in its own transaction with the
observation it describes, as the monitoring records a status change; every ``--rollback-every``-th
transaction fails after its append and is rolled back.

    python -m tests.portal.transparency.appender ENVIRONMENT_ID COUNT [--rollback-every N]

Run with the test database's ``DATABASE_URL`` and log key; prints the ids of the committed observations.
"""

import argparse
import os

import django


class RolledBack(Exception):
    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("environment", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--rollback-every", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()

    from django.db import transaction
    from django.utils import timezone

    from portal.monitoring.models import Observation
    from portal.transparency.services import append_entry

    committed = []
    for n in range(args.count):
        try:
            with transaction.atomic():
                observation = Observation.objects.create(
                    environment_id=args.environment, result="verified", checked_at=timezone.now()
                )
                body = {"project": "demo", "environment": "production", "observation": observation.pk}
                append_entry("status", body, object_id=observation.pk)
                if args.rollback_every and n % args.rollback_every == 0:
                    raise RolledBack
        except RolledBack:
            continue
        committed.append(observation.pk)
    print(" ".join(map(str, committed)))


if __name__ == "__main__":
    main()
