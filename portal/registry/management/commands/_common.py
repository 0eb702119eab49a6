"""What the registry's management commands share: one-line errors instead of tracebacks, the project
named by its slug, setup commands that are safe to run again, and secrets printed once."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.registry import services


def project_or_error(slug):
    try:
        return services.get_project(slug)
    except services.Refused as exc:
        raise CommandError(exc.message) from exc


class ProjectCommand(BaseCommand):
    """A command about one project, named by its slug as the first argument. A subclass declares the
    arguments that follow in ``add_project_arguments``; ``handle_project`` gets the project (an unknown
    slug is one line on stderr) and the other options."""

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        self.add_project_arguments(parser)

    def add_project_arguments(self, parser):
        """The arguments after the slug: none unless a subclass adds them."""

    def handle(self, *args, slug, **options):
        return self.handle_project(project_or_error(slug), **options)

    def handle_project(self, project, **options):
        raise NotImplementedError


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


def create_or_update(model, lookup, **values):
    """The ``model`` row matching ``lookup``, created if there is none, with ``values`` set and saved.

    A value None keeps the current one (or the default), so re-running a setup script with options left
    out changes nothing. Validated as the admin would. Returns the row and "Created" or "Updated".
    """
    instance = model.objects.filter(**lookup).first()
    created = instance is None
    if created:
        instance = model(**lookup)
    for name, value in values.items():
        if value is not None:
            setattr(instance, name, value)
    clean_or_error(instance)
    instance.save()
    return instance, "Created" if created else "Updated"


def name_or_error(model, name):
    """``name`` stripped, or one line if it is empty or longer than ``model``'s name field allows."""
    name = name.strip()
    max_length = model._meta.get_field("name").max_length
    if not name or len(name) > max_length:
        raise CommandError(f"--name must be 1 to {max_length} characters.")
    return name


def print_once(command, secret, note):
    """``secret`` alone on stdout, so that a script can capture it, and ``note`` for the operator on
    stderr. Neither is logged: the secret is shown this once."""
    command.stderr.write(note)
    command.stdout.write(secret)
