"""``manage.py addrebuilder NAME --key PUB.pem``: register an independent rebuilder; prints its token once."""

from portal.registry.models import Rebuilder

from ._common import AddPartyCommand


class Command(AddPartyCommand):
    help = (
        "Register an independent rebuilder by its public name and its Ed25519 or ECDSA P-256 public key "
        "(PEM). Prints its key id and its token, which is shown this once: give it to the rebuilder for "
        "VITRINA_REBUILDER_TOKEN (vitrina-verify rebuild --publish)."
    )
    party_model = Rebuilder
    token_variable = "VITRINA_REBUILDER_TOKEN"  # noqa: S105 (a variable name, not a secret)
