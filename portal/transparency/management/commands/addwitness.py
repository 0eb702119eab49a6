"""``manage.py addwitness NAME VKEY URL``: register a witness the portal asks to cosign its checkpoints."""

from django.core.management.base import BaseCommand, CommandError

from portal.transparency import witnesses


class Command(BaseCommand):
    help = (
        "Register a witness (C2SP tlog-witness) by its name, its cosignature/v1 verifier key (as "
        "'python -m verifier witness init' or 'witness key' prints it) and its submission prefix. The "
        "portal then asks it to cosign every new checkpoint; adding it is a log entry."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the witness's name, the name its verifier key starts with")
        parser.add_argument("verifier_key", help="its verifier key, name+hash+base64 (signature type 0x04)")
        parser.add_argument("url", help="its submission prefix, e.g. https://witness.example.org/")

    def handle(self, *args, name, verifier_key, url, **options):
        try:
            witness = witnesses.add_witness(name, verifier_key, url)
        except witnesses.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Witness '{witness.name}' registered, key ID {witnesses.key_id(witness)}, at {witness.url}; "
            "the portal asks it to cosign from the next checkpoint on."
        )
