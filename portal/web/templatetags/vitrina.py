"""Template helpers for the public pages: the status light, digests, times and who entered a record."""

import datetime
import posixpath
import shlex

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

from portal.http import public_time
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
    """One check as a small cell of the strip: icon and colour, with its time and result in words."""
    state = public_state(observation)
    label = gettext("%(time)s UTC: %(result)s") % {
        "time": utc_minute(observation.checked_at),
        "result": state.word,
    }
    sentence = reasons.reason_sentence(state.reason)
    return {
        "colour": state.light,
        "icon": ICONS[state.result],
        "label": f"{label}. {sentence}" if sentence else label,
    }


@register.filter
def reason_sentence(code):
    return reasons.reason_sentence(code)


@register.filter
def result_word(code):
    return reasons.result_word(code)


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
def short_commit(commit):
    return (commit or "")[:12]


@register.simple_tag
def utc_time(moment):
    """A ``<time>`` element in UTC, machine-readable and shown the same to every reader."""
    if moment is None:
        return ""
    return format_html('<time datetime="{}">{} UTC</time>', public_time(moment), utc_minute(moment))


def utc_minute(moment):
    """A moment as a reader sees it on a page: to the minute, in UTC (the zone is said beside it)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


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
