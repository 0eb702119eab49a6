"""``manage.py addobserver NAME --key PUB.pem``: register an independent observer; prints its token once."""

from django.core.management.base import BaseCommand, CommandError

from portal.registry import services

from .addkey import read_pem


class Command(BaseCommand):
    help = (
        "Register an independent observer by its public name and its Ed25519 or ECDSA P-256 public key "
        "(PEM). Prints its key id and its token, which is shown this once: give it to the observer for "
        "VITRINA_OBSERVER_TOKEN."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the observer's public name, e.g. 'Universidad de la República'")
        parser.add_argument("--key", required=True, help="the observer's public key, as a PEM file")

    def handle(self, *args, name, key, **options):
        pem = read_pem(key)
        try:
            observer, token = services.add_observer(name, pem)
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Observer '{observer.name}' registered, key id {observer.key_id}.")
        self.stderr.write("Its token is shown this once; only its hash is stored:")
        # Only the token on stdout, so a script can capture it.
        self.stdout.write(token)
