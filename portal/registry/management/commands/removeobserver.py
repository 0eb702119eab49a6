"""``manage.py removeobserver NAME``: stop accepting an observer's reports from now on."""

from portal.registry.models import Observer

from ._common import RemovePartyCommand


class Command(RemovePartyCommand):
    help = (
        "Remove an independent observer: its token stops working and its reports are no longer accepted; "
        "the reports it posted before stay. Removing a removed observer changes nothing."
    )
    party_model = Observer
