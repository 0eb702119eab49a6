"""History at a glance: an environment's lights over the last days as shares of time, read from its status
changes (the observations that changed its status, which are exactly what the log holds), and the light of
a whole page in one line (``summarize``).

A status holds from the check that set it until the next change. Time before an environment's first check
is "no data", never green. Days are the public's days: midnight to midnight in ``settings.TIME_ZONE``.
"""

import datetime
import decimal
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from portal.registry.models import Environment
from verifier.reasons import Result

from .models import LIGHTS, Light, Observation, PublicState, public_state

DAYS = 90
# A day shows its worst light: evidence against first, then "could not verify", then "not yet checked".
WORST_FIRST = (
    Result.MISMATCH.value,
    Result.UNVERIFIABLE.value,
    Result.UNCHECKED.value,
    Result.VERIFIED.value,
)
NO_DATA = "no_data"


@dataclass(frozen=True)
class Day:
    """One of the public's days: ``result`` is the worst result that held during it (``NO_DATA`` if no
    check had been made by its end), ``light`` that result's light."""

    date: datetime.date
    result: str

    @property
    def light(self):
        return LIGHTS.get(self.result, NO_DATA)


@dataclass(frozen=True)
class History:
    """An environment's last days. ``verified_share`` is the share of the time with data that was green,
    rounded down to 0.1 % (100 % only when every moment was), None with no data; ``covered_days`` how
    many of the days had data. ``light`` and ``since`` are the current light and when it began (None if
    never checked); ``verified_until`` when the last green spell ended, if the light is not green now
    and it was green within the days shown."""

    days: tuple[Day, ...]
    verified_share: decimal.Decimal | None
    covered_days: int
    light: str
    result: str
    since: datetime.datetime | None
    verified_until: datetime.datetime | None

    @property
    def is_green(self):
        return self.light == Light.GREEN


def public_zone():
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def histories(environments, days=DAYS, now=None):
    """Each environment's ``History`` over the last ``days`` days (today included), by environment id.

    One query for every environment together: the changes inside the window, and for each environment
    the last change before it (which says what held when the window opened).
    """
    now = now or timezone.now()
    zone = public_zone()
    today = now.astimezone(zone).date()
    dates = [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]
    bounds = [_midnight(date, zone) for date in dates] + [now]
    start = bounds[0]
    ids = [environment.pk for environment in environments]
    changes = {pk: [] for pk in ids}
    for change in _changes(ids, start, now):
        changes[change.environment_id].append(change)
    return {pk: _history(changes[pk], dates, bounds) for pk in ids}


def _midnight(date, zone):
    """The first moment of ``date`` in ``zone``, as UTC. Where a clock change skips midnight, the day begins
    at the change (zoneinfo reads a skipped time with the offset before it); where midnight happens twice,
    at the first."""
    return datetime.datetime.combine(date, datetime.time(), tzinfo=zone).astimezone(datetime.UTC)


def _changes(ids, start, now):
    """The status changes of ``ids`` from ``start`` to ``now`` and each one's last before ``start``, oldest
    first."""
    changed = Observation.objects.filter(changed_status=True)
    before = changed.filter(environment=OuterRef("pk"), checked_at__lt=start).order_by("-checked_at", "-id")
    opening = Environment.objects.filter(pk__in=ids).annotate(last=Subquery(before.values("pk")[:1]))
    return (
        changed.filter(environment_id__in=ids)
        .filter(Q(checked_at__gte=start, checked_at__lte=now) | Q(pk__in=opening.values("last")))
        .only("environment_id", "checked_at", "result", "reason")
        .order_by("checked_at", "id")
    )


def _history(changes, dates, bounds):
    """Walk one environment's changes across the days' ``bounds`` (each midnight, then now)."""
    spells = _spells(changes, bounds[0], bounds[-1])
    day_results = []
    green = covered = datetime.timedelta()
    for date, begin, end in zip(dates, bounds[:-1], bounds[1:], strict=True):
        seen = set()
        for result, spell_begin, spell_end in spells:
            overlap = min(end, spell_end) - max(begin, spell_begin)
            if overlap > datetime.timedelta():
                seen.add(result)
                covered += overlap
                if result == Result.VERIFIED.value:
                    green += overlap
        worst = next((result for result in WORST_FIRST if result in seen), NO_DATA)
        day_results.append(Day(date=date, result=worst))
    latest = public_state(changes[-1]) if changes else public_state(None)
    return History(
        days=tuple(day_results),
        verified_share=_share(green, covered),
        covered_days=sum(1 for day in day_results if day.result != NO_DATA),
        light=latest.light,
        result=latest.result,
        since=latest.checked_at,
        verified_until=_verified_until(changes, latest),
    )


def _spells(changes, start, now):
    """(result, begin, end) for each stretch one result held inside [start, now]."""
    spells = []
    for change, following in zip(changes, [*changes[1:], None], strict=False):
        begin = max(change.checked_at, start)
        end = following.checked_at if following is not None else now
        if end > begin:
            spells.append((public_state(change).result, begin, end))
    return spells


def _share(green, covered):
    if not covered:
        return None
    micro = datetime.timedelta(microseconds=1)
    share = decimal.Decimal(green // micro * 100) / decimal.Decimal(covered // micro)
    return share.quantize(decimal.Decimal("0.1"), rounding=decimal.ROUND_DOWN)


def _verified_until(changes, latest):
    if latest.light == Light.GREEN:
        return None
    for change, following in zip(changes[-2::-1], changes[:0:-1], strict=True):
        if public_state(change).light == Light.GREEN:
            return following.checked_at
    return None


@dataclass(frozen=True)
class Summary:
    """How many of a page's environments have each result, out of ``total``: ``lights`` holds, worst first,
    one ``PublicState`` of each result present and its count; ``problems`` counts the red and amber ones."""

    total: int
    lights: tuple[tuple[PublicState, int], ...]

    def count(self, result):
        return sum(count for state, count in self.lights if state.result == result)

    @property
    def problems(self):
        return self.count(Result.MISMATCH.value) + self.count(Result.UNVERIFIABLE.value)

    @property
    def verified(self):
        return self.count(Result.VERIFIED.value)

    @property
    def all_verified(self):
        return self.total > 0 and self.verified == self.total

    @property
    def light(self):
        """The banner's light: the worst light among the environments."""
        return self.lights[0][0].light if self.lights else Light.NONE


def summarize(statuses):
    """The lights of ``statuses`` (anything ``public_state`` reads) counted for a page's banner."""
    states = [public_state(status) for status in statuses]
    lights = []
    for result in WORST_FIRST:
        present = [state for state in states if state.result == result]
        if present:
            lights.append((present[0], len(present)))
    return Summary(total=len(states), lights=tuple(lights))
