"""Template helpers for the public pages: the status light, digests, times and who entered a record."""

import datetime
import posixpath
import shlex

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext

from portal.http import local_time, public_time, readable_time
from portal.monitoring import reasons, uptime
from portal.monitoring.models import LIGHTS, Light, public_state
from portal.registry import words
from verifier.reasons import Result

register = template.Library()

# Each result has its own icon and word, so a light never speaks through colour alone, and
# "mismatch" (evidence of a problem) is told apart from "could not verify" (no evidence either way).
ICONS = {
    Result.VERIFIED.value: "icons/verified.svg",
    Result.MISMATCH.value: "icons/mismatch.svg",
    Result.UNVERIFIABLE.value: "icons/unverifiable.svg",
    Result.UNCHECKED.value: "icons/unchecked.svg",
}


@register.inclusion_tag("web/_light.html")
def light(status, sentence=False):
    """The light for ``status``: icon, word and colour; with ``sentence``, the reason in plain words,
    and with ``sentence="problems"`` only on a red or amber light (a short row still says why)."""
    state = public_state(status)
    if sentence == "problems":
        sentence = state.needs_reason
    return {
        "colour": state.light,
        "icon": ICONS[state.result],
        "result": state.result,
        "word": state.word,
        "sentence": state.sentence if sentence else "",
    }


@register.inclusion_tag("web/_light.html")
def answer(piece):
    """A piece of a release's evidence (``monitoring.evidence.Piece``) as a light: icon, colour, and
    yes, no, could not check or not checked yet."""
    return {
        "colour": LIGHTS[piece.result],
        "icon": ICONS[piece.result],
        "result": piece.result,
        "word": reasons.answer_word(piece.result),
        "sentence": "",
    }


@register.inclusion_tag("web/_check_cell.html")
def check_cell(observation):
    """One check as a small cell of the strip: icon and colour, its time and result in words as the
    button's name, and its details (time, light, reason, what the server said) in a popover that the
    button opens by touch, click or keyboard, without JavaScript."""
    state = public_state(observation)
    return {
        "observation": observation,
        "colour": state.light,
        "icon": ICONS[state.result],
        "label": gettext("%(time)s: %(result)s")
        % {"time": local_time(observation.checked_at), "result": state.word},
    }


@register.filter
def reason_sentence(code):
    return reasons.reason_sentence(code)


@register.filter
def result_word(code):
    return reasons.result_word(code)


@register.filter
def environment_label(name):
    """An environment's name as people read it (``registry.words.environment_label``)."""
    return words.environment_label(name)


@register.filter
def short_digest(digest):
    """``sha256:`` and the first 12 hex digits: enough to tell releases apart at a glance."""
    if not digest:
        return ""
    algorithm, _sep, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}…" if value else digest[:19]


@register.simple_tag
def digest_code(digest):
    """A digest told at a glance (``short_digest``), the whole of it on hover."""
    return format_html('<code class="digest" title="{}">{}</code>', digest, short_digest(digest))


@register.simple_tag
def column_heads(*headings):
    """A table's head row: one column heading per argument (``_("...")`` to translate)."""
    cells = format_html_join("", '<th scope="col">{}</th>', ((heading,) for heading in headings))
    return format_html("<thead><tr>{}</tr></thead>", cells)


@register.filter
def component_rows(status, deployment):
    """A release of several components, one row each: ``(name, what the server said, what the deployed
    release declares)``, the declared components first in the release's order, then any the server
    reported that the release does not have; "" where one side has nothing. No rows for a one-artifact
    release that the server reported by its one digest."""
    reported = dict(getattr(status, "live_components", None) or {})
    # ``views.attach_current`` says whether there are components to read (most releases have none).
    has_components = deployment is not None and getattr(deployment, "release_has_components", True)
    declared = [(c.name, c.digest) for c in deployment.release.components.all()] if has_components else []
    rows = [(name, reported.pop(name, ""), digest) for name, digest in declared]
    return rows + [(name, digest, "") for name, digest in reported.items()]


@register.filter
def short_commit(commit):
    return (commit or "")[:12]


@register.simple_tag
def moment(value, utc=False):
    """How every page shows a time: ``<time datetime>`` (``public_time``, UTC, for machines) holding the
    time on the public's clock with its offset (``local_time``) and how long ago it was (``time_ago``,
    which refresh.js keeps current from ``datetime``); with ``utc``, the same moment in UTC beside it."""
    if value is None:
        return ""
    shown = local_time(value)
    if utc:
        shown = gettext("%(local)s, that is %(utc)s") % {
            "local": shown,
            "utc": f"{readable_time(value.astimezone(datetime.UTC))} UTC",
        }
    return format_html(
        '<time datetime="{}">{} · <span class="ago">{}</span></time>',
        public_time(value),
        shown,
        time_ago(value, timezone.now()),
    )


# How long ago, in the largest unit that fits (refresh.js counts the same way with Intl.RelativeTimeFormat).
UNITS = (
    (365 * 86400, lambda n: ngettext("%(count)d year ago", "%(count)d years ago", n)),
    (30 * 86400, lambda n: ngettext("%(count)d month ago", "%(count)d months ago", n)),
    (86400, lambda n: ngettext("%(count)d day ago", "%(count)d days ago", n)),
    (3600, lambda n: ngettext("%(count)d hour ago", "%(count)d hours ago", n)),
    (60, lambda n: ngettext("%(count)d minute ago", "%(count)d minutes ago", n)),
)
UNITS_AHEAD = (
    (365 * 86400, lambda n: ngettext("in %(count)d year", "in %(count)d years", n)),
    (30 * 86400, lambda n: ngettext("in %(count)d month", "in %(count)d months", n)),
    (86400, lambda n: ngettext("in %(count)d day", "in %(count)d days", n)),
    (3600, lambda n: ngettext("in %(count)d hour", "in %(count)d hours", n)),
    (60, lambda n: ngettext("in %(count)d minute", "in %(count)d minutes", n)),
)


def time_ago(value, now):
    """How long before ``now`` ``value`` was, in words: "hace 2 minutos", "3 days ago"; under a minute
    either way, "now" (a clock a little ahead is not news)."""
    seconds = (now - value).total_seconds()
    units = UNITS if seconds >= 0 else UNITS_AHEAD
    for size, phrase in units:
        count = int(abs(seconds) // size)
        if count:
            return phrase(count) % {"count": count}
    return gettext("now")


@register.simple_tag
def entered_by(record):
    return words.entered_by(record)


@register.filter
def shell_quote(value):
    """``value`` as one POSIX shell word: names and URLs from records are pasted into a volunteer's shell."""
    return shlex.quote(str(value))


@register.filter
def single_quoted(value):
    """``value`` in single quotes for a POSIX shell, always: a key then reads as one word to anyone."""
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


@register.filter
def file_name(path):
    """The last part of a path, for saving a download under its own name."""
    return posixpath.basename(str(path or ""))


@register.inclusion_tag("web/_history_bar.html")
def history_bar(history, key):
    """An environment's last days as a bar of one cell per day, each with its date and worst light in
    words, then the share of time verified and how long the current light has held. ``key`` (an
    environment's id) tells one bar's ids apart from another's on the same page."""
    cells = []
    for day in history.days:
        word = gettext("no data") if day.result == uptime.NO_DATA else reasons.result_word(day.result)
        cells.append((day.light, f"{formats.date_format(day.date, 'DATE_FORMAT')}: {word}"))
    return {"history": history, "cells": cells, "heading_id": f"history-share-{key}"}


@register.simple_tag
def streak(history):
    """How long the current light has held, e.g. "In red for 3 h 12 min"; '' when never checked."""
    if history.since is None:
        return ""
    sentences = {
        Light.GREEN: gettext("Verified for %(duration)s"),
        Light.RED: gettext("In red for %(duration)s"),
        Light.AMBER: gettext("Could not verify for %(duration)s"),
        Light.NONE: gettext("Not checked for %(duration)s"),
    }
    return sentences[history.light] % {"duration": duration(timezone.now() - history.since)}


def duration(delta):
    """A length of time in its two largest units, e.g. "3 h 12 min", "2 d 5 h", "less than 1 min"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return gettext("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return gettext("%(minutes)s min") % {"minutes": minutes}
    return gettext("less than 1 min")
