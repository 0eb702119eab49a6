"""``manage.py addobserver NAME --key PUB.pem``: register an independent observer; prints its token once."""

from portal.registry.models import Observer

from ._common import AddPartyCommand


class Command(AddPartyCommand):
    help = (
        "Register an independent observer by its public name and its Ed25519 or ECDSA P-256 public key "
        "(PEM). Prints its key id and its token, which is shown this once: give it to the observer for "
        "VITRINA_OBSERVER_TOKEN."
    )
    party_model = Observer
    token_variable = "VITRINA_OBSERVER_TOKEN"  # noqa: S105 (a variable name, not a secret)
