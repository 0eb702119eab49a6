"""``manage.py removewitness NAME``: stop asking a witness to cosign; its cosignatures stay."""

from django.core.management.base import BaseCommand, CommandError

from portal.transparency import witnesses
from portal.transparency.models import Witness
from verifier.entries import format_time


class Command(BaseCommand):
    help = (
        "Remove a witness: the portal stops asking it to cosign checkpoints, and proof bundles stop counting "
        "it; the cosignatures it gave stay. Removing it is a log entry; removing a removed witness changes "
        "nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the witness's name")

    def handle(self, *args, name, **options):
        witness = Witness.objects.filter(name=name).first()
        if witness is None:
            known = ", ".join(Witness.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"There is no witness named {name!r} (witnesses: {known}).")
        if witness.removed_at is not None:
            self.stdout.write(f"Witness '{name}' was already removed at {format_time(witness.removed_at)}.")
            return
        try:
            witness = witnesses.remove_witness(witness)
        except witnesses.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Removed witness '{name}' at {format_time(witness.removed_at)}.")
