"""``manage.py removerebuilder NAME``: stop accepting a rebuilder's rebuilds from now on."""

from portal.registry.models import Rebuilder

from ._common import RemovePartyCommand


class Command(RemovePartyCommand):
    help = (
        "Remove an independent rebuilder: its token stops working, its rebuilds are no longer accepted "
        "and no longer counted; the rebuilds it posted before stay in the log. Removing a removed "
        "rebuilder changes nothing."
    )
    party_model = Rebuilder
