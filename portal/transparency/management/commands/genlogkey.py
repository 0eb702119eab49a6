"""Create the log's signing key file (mode 0600) unless it exists, and print the public verifier key."""

from django.core.management.base import BaseCommand, CommandError

from portal.transparency.signing import LogKeyError, generate_key_file, key_path, verifier_key


class Command(BaseCommand):
    help = "Create the transparency log's Ed25519 signing key file if it is missing."

    def handle(self, *args, **options):
        created = generate_key_file()
        try:
            vkey = verifier_key()
        except LogKeyError as exc:
            raise CommandError(str(exc)) from None
        state = "created" if created else "exists, left as it was"
        self.stdout.write(f"log signing key {key_path()} {state}; verifier key: {vkey}")
