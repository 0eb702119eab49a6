"""An environment's past, read from the records: its timeline, and what ran there at a given moment.

Both answers come from rows the transparency log vouches for (deployments, releases and the
observations that changed the status), and each is shown with the log indexes that prove it, so a
reader can check the answer against the log instead of taking the page's word for it. A fixed number
of queries answers each question, however long the history.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.monitoring.models import Observation, status_changes
from portal.transparency.models import LogEntry

# Longer input is not a date; cutting it keeps error messages short.
MAX_INPUT = 40


class BadMoment(ValueError):
    """The date or time asked for cannot be answered; the message says why, for the reader."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def parse_moment(date_text, time_text, now):
    """The moment (in UTC) named by a ``YYYY-MM-DD`` date and an optional ``HH:MM[:SS]`` time on the
    public's clock (``settings.TIME_ZONE``).

    An empty time means midnight. A local time that never happened (the clocks were put forward over
    it) is refused; one that happened twice (the clocks were put back) is the first of the two.
    Moments after ``now`` are refused: the records only know the past.
    """
    date_text = (date_text or "").strip()[:MAX_INPUT]
    time_text = (time_text or "").strip()[:MAX_INPUT]
    if not date_text:
        raise BadMoment(_("Give a date, as year-month-day (for example 2026-03-14)."))
    try:
        day = datetime.date.fromisoformat(date_text)
    except ValueError:
        raise BadMoment(
            _("“%(value)s” is not a date. Write it as year-month-day, for example 2026-03-14.")
            % {"value": date_text}
        ) from None
    clock = datetime.time(0, 0)
    if time_text:
        try:
            clock = datetime.time.fromisoformat(time_text)
        except ValueError:
            clock = None
        if clock is None or clock.tzinfo is not None:
            raise BadMoment(
                _("“%(value)s” is not a time. Write it as hours:minutes, for example 09:30.")
                % {"value": time_text}
            )
    zone = timezone.get_default_timezone()
    local = datetime.datetime.combine(day, clock, tzinfo=zone)
    try:
        moment = local.astimezone(datetime.UTC)
    except (
        OverflowError
    ):  # within hours of year 1 or 9999: before every record (a day it can show), or to come
        moment = datetime.datetime(1, 1, 2, tzinfo=datetime.UTC) if day.year == 1 else None
    if moment is None or moment > now:
        raise BadMoment(_("That moment is in the future: the records can only tell what ran in the past."))
    if moment.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None) and day.year > 1:
        raise BadMoment(
            _(
                "%(time)s on %(date)s never happened in %(zone)s: the clocks were put forward at that hour."
                " Choose a time after the change."
            )
            % {"time": clock.strftime("%H:%M"), "date": day.isoformat(), "zone": zone.key}
        )
    return moment


def repeated_local_time(moment):
    """True when ``moment``'s time on the public's clock happened twice (the clocks were put back)."""
    local = timezone.localtime(moment, timezone.get_default_timezone())
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


@dataclass
class PastState:
    """What the records say about one environment at ``moment``.

    ``deployment`` is the latest deployment declared to have happened at or before ``moment``;
    ``observation`` the last check made at or before it (what the server said); ``status_change`` the
    last check that changed the light, which is the one the log holds. ``log`` maps ``deployment``,
    ``release`` and ``status`` to the index of the entry that records each (absent while not logged).
    """

    moment: datetime.datetime
    deployment: object = None
    observation: object = None
    status_change: object = None
    log: dict = field(default_factory=dict)

    @property
    def release(self):
        return self.deployment.release if self.deployment else None

    @property
    def repeated(self):
        return repeated_local_time(self.moment)

    @property
    def declared_later(self):
        """True when the deployment was put on record only after ``moment`` (a late declaration)."""
        return self.deployment is not None and self.deployment.registered_at > self.moment


def what_ran_at(environment, moment):
    """The ``PastState`` of ``environment`` at ``moment``, in at most four queries."""
    deployment = (
        environment.deployments.filter(deployed_at__lte=moment)
        .select_related("release__project", "release__signer_key")
        .order_by("-deployed_at", "-id")
        .first()
    )
    before = Observation.objects.filter(environment=environment, checked_at__lte=moment).order_by(
        "-checked_at", "-id"
    )
    observation = before.select_related("live_release").first()
    change = observation
    if observation is not None and not observation.changed_status:
        change = before.filter(changed_status=True).first()
    state = PastState(moment=moment, deployment=deployment, observation=observation, status_change=change)
    wanted = {
        LogEntry.Kind.DEPLOYMENT: deployment,
        LogEntry.Kind.RELEASE: state.release,
        LogEntry.Kind.STATUS: change,
    }
    condition = Q()
    for kind, record in wanted.items():
        if record is not None:
            condition |= Q(kind=kind, object_id=record.pk)
            state.log[kind] = None  # "not yet in the log" until its entry has an index
    if condition:
        for kind, object_id, index in LogEntry.objects.filter(condition).values_list(
            "kind", "object_id", "index"
        ):
            if wanted[kind] is not None and wanted[kind].pk == object_id:
                state.log[kind] = index
    return state


@dataclass
class Event:
    """One line of the timeline: a deployment, or a check that changed the light."""

    kind: str
    at: datetime.datetime
    record: object
    log_index: int | None = None


def timeline(environment, limit):
    """Deployments and status changes of ``environment`` merged, newest first, at most ``limit``."""
    deployments = list(
        environment.deployments.select_related(
            "release__project", "reported_by_token", "reported_by_user"
        ).order_by("-deployed_at", "-id")[:limit]
    )
    changes = status_changes(environment, limit)
    indexes = dict(
        ((kind, object_id), index)
        for kind, object_id, index in LogEntry.objects.filter(
            Q(kind=LogEntry.Kind.DEPLOYMENT, object_id__in=[d.pk for d in deployments])
            | Q(kind=LogEntry.Kind.STATUS, object_id__in=[o.pk for o in changes])
        ).values_list("kind", "object_id", "index")
    )
    events = [
        Event("deployment", d.deployed_at, d, indexes.get((LogEntry.Kind.DEPLOYMENT, d.pk)))
        for d in deployments
    ] + [Event("status", o.checked_at, o, indexes.get((LogEntry.Kind.STATUS, o.pk))) for o in changes]
    events.sort(key=lambda event: (event.at, event.kind == "status", event.record.pk), reverse=True)
    return events[:limit]
