"""``manage.py answerrebuild REBUILD_ID --text TEXT``: the project's public answer to a differing rebuild."""

from django.core.management.base import BaseCommand, CommandError

from portal.registry import services
from portal.registry.models import Rebuild
from verifier.entries import format_time


class Command(BaseCommand):
    help = (
        "Answer a rebuild that got other bytes than the release, in public: why the project still stands "
        "by its release. The answer is logged, shown beside the rebuild, given once and never edited; it "
        "lifts the red light the rebuild caused, it does not make the rebuild match."
    )

    def add_arguments(self, parser):
        parser.add_argument("rebuild_id", type=int, help="the rebuild's id (its page and the API name it)")
        parser.add_argument("--text", required=True, help="the answer, one line of plain text")

    def handle(self, *args, rebuild_id, text, **options):
        rebuild = (
            Rebuild.objects.select_related("release__project", "rebuilder").filter(pk=rebuild_id).first()
        )
        if rebuild is None:
            raise CommandError(f"There is no rebuild {rebuild_id}.")
        try:
            answer = services.answer_rebuild(rebuild, text)
        except services.Refused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Answered rebuild {rebuild.pk} of {rebuild.release} by rebuilder '{rebuild.rebuilder.name}' at "
            f"{format_time(answer.registered_at)}."
        )
