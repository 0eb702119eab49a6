"""``manage.py revokekey SLUG KEY_ID_PREFIX``: stop trusting a project's key from now on."""

import datetime
import re

from django.core.management.base import CommandError

from portal.registry import services

from ._common import ProjectCommand

MIN_PREFIX = 4


class Command(ProjectCommand):
    help = (
        "Revoke a project's signing key, named by the start of its key id. Releases it signed before stay "
        "valid; later ones are refused. Revoking a revoked key changes nothing."
    )

    def add_project_arguments(self, parser):
        parser.add_argument(
            "key_id_prefix", help=f"the first hex characters of the key id (at least {MIN_PREFIX})"
        )

    def handle_project(self, project, *, key_id_prefix, **options):
        prefix = key_id_prefix.strip().lower()
        if not re.fullmatch(rf"[0-9a-f]{{{MIN_PREFIX},64}}", prefix):
            raise CommandError(f"Key id prefix {key_id_prefix!r} must be {MIN_PREFIX} to 64 hex characters.")
        matches = list(project.signing_keys.filter(key_id__startswith=prefix))
        if not matches:
            known = ", ".join(key.short_id for key in project.signing_keys.all()) or "none"
            raise CommandError(f"Project '{project.slug}' has no key starting with {prefix} (keys: {known}).")
        if len(matches) > 1:
            ids = ", ".join(key.key_id for key in matches)
            raise CommandError(
                f"{prefix} matches {len(matches)} keys of '{project.slug}' ({ids}); give more of it."
            )
        key = matches[0]
        if key.revoked_at is not None:
            self.stdout.write(
                f"Key {key.key_id} of '{project.slug}' was already revoked at {utc(key.revoked_at)}."
            )
            return
        try:
            key = services.revoke_signing_key(key)
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Revoked key {key.key_id} of '{project.slug}' at {utc(key.revoked_at)}.")


def utc(moment):
    return f"{moment.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"
