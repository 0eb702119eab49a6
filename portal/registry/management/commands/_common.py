"""What the registry's management commands share: one-line errors instead of tracebacks, the project
named by its slug, setup commands that are safe to run again, secrets printed once, and adding and
removing an independent party (an observer, a rebuilder) alike."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.registry import services
from verifier.entries import format_time


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


# A PEM public key is well under 1 KiB; anything far larger is the wrong file.
MAX_PEM_BYTES = 64 * 1024


def read_pem(path):
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
    if len(data) > MAX_PEM_BYTES:
        raise CommandError(f"{path} is larger than {MAX_PEM_BYTES} bytes; it is not a PEM public key.")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path} is not a PEM text file.") from exc


class AddPartyCommand(BaseCommand):
    """``manage.py add<kind> NAME --key PUB.pem``: register an independent party of ``party_model``'s kind
    (``services.add_party``); its key id on stderr, its token alone on stdout, this once."""

    party_model = None
    token_variable = ""  # where the party's command reads its token from

    def add_arguments(self, parser):
        kind = services.party_kind(self.party_model)
        parser.add_argument("name", help=f"the {kind}'s public name, e.g. 'Universidad de la República'")
        parser.add_argument("--key", required=True, help=f"the {kind}'s public key, as a PEM file")

    def handle(self, *args, name, key, **options):
        try:
            party, token = services.add_party(self.party_model, name, read_pem(key))
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        kind = services.party_kind(self.party_model)
        self.stderr.write(f"{kind.capitalize()} '{party.name}' registered, key id {party.key_id}.")
        print_once(
            self,
            token,
            f"Its token is shown this once; only its hash is stored (give it to the {kind} for "
            f"{self.token_variable}):",
        )


class RemovePartyCommand(BaseCommand):
    """``manage.py remove<kind> NAME``: stop accepting a party's statements (``services.remove_party``)."""

    party_model = None

    def add_arguments(self, parser):
        parser.add_argument("name", help=f"the {services.party_kind(self.party_model)}'s public name")

    def handle(self, *args, name, **options):
        kind = services.party_kind(self.party_model)
        party = self.party_model.objects.filter(name=name).first()
        if party is None:
            known = ", ".join(self.party_model.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"There is no {kind} named {name!r} ({kind}s: {known}).")
        if party.removed_at is not None:
            self.stdout.write(
                f"{kind.capitalize()} '{name}' was already removed at {format_time(party.removed_at)}."
            )
            return
        try:
            party = services.remove_party(party)
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Removed {kind} '{name}' at {format_time(party.removed_at)}.")
