"""What the registry's management commands share: one-line errors instead of tracebacks."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from portal.registry import services


def project_or_error(slug):
    try:
        return services.get_project(slug)
    except services.Refused as exc:
        raise CommandError(exc.message) from exc


def clean_or_error(instance):
    """Validate ``instance`` as the admin would; any problem becomes one line naming its fields."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" if field != "__all__" else " ".join(messages)
            for field, messages in exc.message_dict.items()
        )
        raise CommandError(problems) from exc
