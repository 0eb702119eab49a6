"""Atom feeds of deployments and of status changes, for the whole site and for each project.

A feed reader is the simplest way to be told when something changes without giving anyone an
email address. Status changes are the observations monitoring marked ``changed_status`` — exactly
the ones appended to the transparency log — so the feed and the log tell the same story.

Entry ids and links are built on ``SITE_URL``, not on the request's host, so an entry keeps its id
whichever host name or proxy served the feed.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from portal.http import public_time
from portal.monitoring.models import Observation, public_state
from portal.registry import words
from portal.registry.models import Deployment, Project, StatusNote
from portal.transparency.models import LogEntry

from .badges import requested_language

FEED_LENGTH = 50


def absolute(path):
    return settings.SITE_URL + path


class VitrinaFeed(Feed):
    feed_type = Atom1Feed
    author_name = "Vitrina"

    def __call__(self, request, *args, **kwargs):
        """The feed in the language asked for, as a badge is: ``?lang=es`` or ``?lang=en`` (a feed reader
        sends no Accept-Language a citizen chose), else the one the browser's headers asked for."""
        language = requested_language(request)
        with translation.override(language):
            response = super().__call__(request, *args, **kwargs)
        response["Content-Language"] = language
        return response

    def get_object(self, request, slug=None):
        return get_object_or_404(Project, slug=slug) if slug else None

    def link(self, project):
        return absolute(project.get_absolute_url() if project else reverse("web:home"))

    def feed_guid(self, project):
        """The feed's own URL: two feeds of one project must not share the project page as their id."""
        if project:
            return absolute(reverse(self.project_url_name, args=[project.slug]))
        return absolute(reverse(self.url_name))

    def item_link(self, item):
        return absolute(item.get_absolute_url())

    def newest(self, rows, project, moment):
        """``rows`` (each of one environment) of ``project``, or of every project when it is None,
        newest ``moment`` first, at most ``FEED_LENGTH`` of them."""
        if project:
            rows = rows.filter(environment__project=project)
        return rows.order_by(f"-{moment}", "-id")[:FEED_LENGTH]


class DeploymentsFeed(VitrinaFeed):
    """Every recorded deployment, newest first: what was put where, and when."""

    url_name = "share:deployments-feed"
    project_url_name = "share:project-deployments-feed"

    def title(self, project):
        return (
            _("Deployments of %(project)s") % {"project": project.name}
            if project
            else _("Vitrina deployments")
        )

    def subtitle(self, project):
        return _("Releases put into service, as recorded in the transparency log.")

    def items(self, project):
        deployments = Deployment.objects.select_related("environment__project", "release")
        return self.newest(deployments, project, "deployed_at")

    def item_title(self, deployment):
        return _("%(project)s %(version)s deployed to %(environment)s") % {
            "project": deployment.environment.project.name,
            "version": deployment.release.version,
            "environment": words.environment_label(deployment.environment.name),
        }

    def item_description(self, deployment):
        release = deployment.release
        lines = [
            _("Artifact: %(digest)s") % {"digest": release.artifact_digest},
            _("Source commit: %(commit)s (%(repo)s)")
            % {"commit": release.source_commit, "repo": release.repo_url},
        ]
        if deployment.pipeline_run_url:
            lines.append(_("Pipeline run: %(url)s") % {"url": deployment.pipeline_run_url})
        return "\n".join(lines)

    def item_pubdate(self, deployment):
        return deployment.deployed_at

    def item_updateddate(self, deployment):
        return deployment.registered_at


class StatusFeed(VitrinaFeed):
    """Every change of an environment's light, newest first."""

    url_name = "share:status-feed"
    project_url_name = "share:project-status-feed"

    def title(self, project):
        if project:
            return _("Status changes of %(project)s") % {"project": project.name}
        return _("Vitrina status changes")

    def subtitle(self, project):
        return _("Each time an environment's check result or reason changed.")

    def items(self, project):
        """Status changes and operators' notes (each a log entry), newest first, ``FEED_LENGTH`` in all."""
        changes = Observation.objects.filter(changed_status=True).select_related("environment__project")
        notes = StatusNote.objects.select_related("project", "environment", *StatusNote.AUTHOR_FIELDS)
        if project:
            notes = notes.filter(project=project)
        notes = list(notes.order_by("-registered_at", "-id")[:FEED_LENGTH])
        indexes = dict(
            LogEntry.objects.filter(kind=LogEntry.Kind.NOTE, object_id__in=[n.pk for n in notes]).values_list(
                "object_id", "index"
            )
        )
        for note in notes:
            note.log_index = indexes.get(note.pk)
        items = [*self.newest(changes, project, "checked_at"), *notes]
        return sorted(items, key=self.item_pubdate, reverse=True)[:FEED_LENGTH]

    def item_title(self, observation):
        if isinstance(observation, StatusNote):
            return note_title(observation)
        return _("%(project)s/%(environment)s: %(result)s") % {
            "project": observation.environment.project.slug,
            "environment": words.environment_label(observation.environment.name),
            "result": public_state(observation).word,
        }

    def item_description(self, observation):
        if isinstance(observation, StatusNote):
            return note_description(observation)
        lines = [str(public_state(observation).sentence)]
        if observation.live_digest:
            lines.append(_("Running: %(digest)s") % {"digest": observation.live_digest})
        if observation.expected_digest:
            lines.append(_("Expected: %(digest)s") % {"digest": observation.expected_digest})
        return "\n".join(lines)

    def item_link(self, observation):
        if isinstance(observation, StatusNote):
            return absolute(observation.get_absolute_url())
        return absolute(observation.environment.get_absolute_url())

    def item_guid(self, observation):
        if isinstance(observation, StatusNote):
            return f"{self.item_link(observation)}#note-{observation.pk}"
        return f"{self.item_link(observation)}#observation-{observation.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, observation):
        if isinstance(observation, StatusNote):
            return observation.registered_at
        return observation.checked_at

    def item_updateddate(self, observation):
        """Atom requires <updated> on every entry; an observation or a note never changes once written."""
        return self.item_pubdate(observation)


def note_title(note):
    """An operator's note as a feed entry's title: where, and its kind in the reader's words."""
    where = note.project.slug
    if note.environment_id:
        where = f"{where}/{words.environment_label(note.environment.name)}"
    return _("%(where)s: operator's note, %(kind)s") % {"where": where, "kind": note.get_kind_display()}


def note_description(note):
    """The operator's own words, then who wrote them, when the note applies and its log entry."""
    lines = [note.text, _("In the operator's words; %(who)s.") % {"who": words.entered_by(note)}]
    if note.ends_at:
        lines.append(
            _("From %(start)s to %(end)s.")
            % {"start": public_time(note.starts_at), "end": public_time(note.ends_at)}
        )
    else:
        lines.append(_("From %(start)s.") % {"start": public_time(note.starts_at)})
    if note.log_index is not None:
        lines.append(_("Log entry #%(index)s.") % {"index": note.log_index})
    return "\n".join(lines)
