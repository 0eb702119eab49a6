"""``manage.py removeobserver NAME``: stop accepting an observer's reports from now on."""

from django.core.management.base import BaseCommand, CommandError

from portal.registry import services
from portal.registry.models import Observer
from verifier.entries import format_time


class Command(BaseCommand):
    help = (
        "Remove an independent observer: its token stops working and its reports are no longer accepted; "
        "the reports it posted before stay. Removing a removed observer changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the observer's public name")

    def handle(self, *args, name, **options):
        observer = Observer.objects.filter(name=name).first()
        if observer is None:
            known = ", ".join(Observer.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"There is no observer named {name!r} (observers: {known}).")
        if observer.removed_at is not None:
            self.stdout.write(f"Observer '{name}' was already removed at {format_time(observer.removed_at)}.")
            return
        try:
            observer = services.remove_observer(observer)
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Removed observer '{name}' at {format_time(observer.removed_at)}.")
