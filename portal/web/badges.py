"""Status badges: a small SVG per environment and per project, and the same status as JSON.

Badges are embedded in READMEs and intranet pages and fetched far more often than any page, so they
are built for speed: one query (two for a project without environments; the status JSON adds two for
the operator's notes beside the lights), whose answer is kept in the cache for ``CACHE_SECONDS`` so a
popular badge costs one query every few seconds rather than one per view; a compiled SVG template
rendered once per distinct (label, message, colour) and kept in memory; and a short ``max-age`` with
an ETag so proxies and browsers revalidate cheaply. A badge is thus at most ``CACHE_SECONDS + MAX_AGE``
seconds behind the status, which changes at most once per check.

A badge never shows green without a check: a status without a check time is "not checked", and a
project's badge is the worst of its environments.
"""

import functools
import hashlib
import json

from django.http import HttpResponse
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from portal.http import public_time
from portal.monitoring import reasons
from portal.monitoring.models import Status, public_state
from portal.registry import words
from portal.registry.models import Environment, Project, current_notes
from portal.web import shared_cache
from verifier.reasons import Result

LANGUAGES = ("en", "es")
MAX_AGE = 30
CACHE_SECONDS = 5
SLUG_MAX_LENGTH = 50  # Project.slug and Environment.name: anything longer names nothing
PROJECT_LABEL = "vitrina"
LABEL_COLOR = "#555"
NOT_FOUND = "not_found"

# Each colour carries white text at a WCAG AA contrast (4.5:1 or more). Red is kept for evidence of a
# mismatch; "could not verify" is the amber of the pages' light, so nobody mistakes it for tampering.
COLORS = {
    Result.VERIFIED.value: "#2e7d32",
    Result.MISMATCH.value: "#c62828",
    Result.UNVERIFIABLE.value: "#8f4a00",
    Result.UNCHECKED.value: "#757575",
    NOT_FOUND: "#757575",
}
NOT_FOUND_WORD = _("not found")


@functools.cache
def badge_word(lang, result):
    """A badge's word for ``result`` in ``lang``: the pages' own word (``reasons.result_word``)."""
    with translation.override(lang):
        return str(NOT_FOUND_WORD if result == NOT_FOUND else reasons.result_word(result))


# Worst first: evidence of a problem, then inability to check, then no check yet.
SEVERITY = {
    Result.MISMATCH.value: 3,
    Result.UNVERIFIABLE.value: 2,
    Result.UNCHECKED.value: 1,
    Result.VERIFIED.value: 0,
}

# Verdana 11px advance widths (font units / 2048 * 11) for the characters slugs and our words use;
# badge text is measured on the server, like shields.io does, since an <img> cannot measure itself.
_VERDANA_UNITS = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz0123456789- ._",
        [
            1255,
            1282,
            1111,
            1282,
            1221,
            723,
            1282,
            1301,
            562,
            699,
            1201,
            562,
            1997,
            1301,
            1246,
            1282,
            1282,
            874,
            1065,
            807,
            1301,
            1201,
            1653,
            1201,
            1201,
            1069,
        ]
        + [1302] * 10
        + [842, 720, 748, 1302],
        strict=True,
    )
)
_PADDING = 10


def text_width(text):
    units = sum(_VERDANA_UNITS.get(char, 1400 if char.isupper() else 1300) for char in text)
    return round(units * 11 / 2048 + _PADDING)


@functools.lru_cache(maxsize=4096)
def render_badge(label, message, color):
    """The SVG bytes and their ETag; memoised, because only a few hundred distinct badges exist."""
    label_width, message_width = text_width(label), text_width(message)
    svg = get_template("badges/badge.svg").render(
        {
            "label": label,
            "message": message,
            "color": color,
            "label_color": LABEL_COLOR,
            "width": label_width + message_width,
            "label_width": label_width,
            "message_width": message_width,
            "label_x": label_width / 2,
            "message_x": label_width + message_width / 2,
        }
    )
    body = svg.strip().encode()
    return body, etag_of(body)


def etag_of(body):
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def worst(states):
    return max(states, key=lambda state: SEVERITY[state["result"]])


_MISSING = object()


def cached(key, compute):
    """``compute()``, kept for ``CACHE_SECONDS`` (None too: "not found" is an answer worth keeping)."""
    value = shared_cache.get(key, _MISSING)
    if value is _MISSING:
        value = compute()
        shared_cache.set(key, value, CACHE_SECONDS)
    return value


def environment_state(slug, env):
    """The shown state of one environment, or None if there is no such environment."""
    if len(slug) > SLUG_MAX_LENGTH or len(env) > SLUG_MAX_LENGTH:
        return None
    return cached(f"badge:{slug}/{env}", lambda: query_environment_state(slug, env))


def query_environment_state(slug, env):
    """One query."""
    row = (
        Environment.objects.filter(project__slug=slug, name=env)
        .values_list("status__result", "status__reason", "status__checked_at")
        .first()
    )
    if row is None:
        return None
    return make_state(slug, env, *row)


def project_states(slug):
    """The shown state of each of a project's environments; None if there is no such project."""
    if len(slug) > SLUG_MAX_LENGTH:
        return None
    return cached(f"badge:{slug}", lambda: query_project_states(slug))


def query_project_states(slug):
    """One query, and a second only when the project has no environment, to tell "no environment yet"
    (not checked) from "no such project" (not found).
    """
    rows = Environment.objects.filter(project__slug=slug).order_by("name")
    rows = rows.values_list("name", "status__result", "status__reason", "status__checked_at")
    states = [make_state(slug, *row) for row in rows]
    if not states and not Project.objects.filter(slug=slug).exists():
        return None
    return states


def make_state(slug, env, result, reason, checked_at):
    state = public_state(Status(result=result, reason=reason, checked_at=checked_at))
    return {
        "project": slug,
        "environment": env,
        "light": state.light,
        "result": state.result,
        "reason": state.reason,
        "checked_at": public_time(checked_at),
    }


def project_notes(slug):
    """{environment name: its operator's note as the status JSON shows it, or None}, kept like the
    states; only the JSON documents carry notes, so a badge stays one query."""
    return cached(f"badge-notes:{slug}", lambda: query_project_notes(slug))


def query_project_notes(slug):
    """Two queries, four when a note is shown (``registry.models.current_notes``)."""
    names = dict(Environment.objects.filter(project__slug=slug).values_list("pk", "name"))
    notes = current_notes(list(names), timezone.now()) if names else {}
    return {name: note_document(notes.get(pk)) for pk, name in names.items()}


def noted(state, notes):
    """``state`` with ``note``: the operator's note shown beside that light now, or None. A note never
    changes the light."""
    return {**state, "note": notes.get(state["environment"])}


def note_document(note):
    if note is None:
        return None
    return {
        "kind": note.kind,
        "text": note.text,
        "starts_at": public_time(note.starts_at),
        "ends_at": public_time(note.ends_at),
        "log_index": note.log_index,
    }


def project_state(slug, states):
    """A project's state: its worst environment's, or "not checked" when it has none."""
    if not states:
        return make_state(slug, None, Result.UNCHECKED.value, "", None)
    return {**worst(states), "environment": None}


def requested_language(request):
    """The language of a shared document (badge, status JSON, feed): ``?lang=es`` wins; otherwise the one
    LocaleMiddleware picked from Accept-Language."""
    lang = request.GET.get("lang") or getattr(request, "LANGUAGE_CODE", "en")
    lang = lang.split("-")[0].lower()
    return lang if lang in LANGUAGES else "en"


def svg_response(request, label, result, status=200):
    body, etag = render_badge(label, badge_word(requested_language(request), result), COLORS[result])
    return cacheable(request, body, etag, "image/svg+xml", status)


def environment_badge_label(request, env):
    """A badge's label for an environment: its name as people read it, in the badge's language."""
    with translation.override(requested_language(request)):
        return words.environment_label(env)


def cacheable(request, body, etag, content_type, status=200):
    """A response with a short max-age and an ETag, or a bodiless 304 when the client has it."""
    if status == 200 and etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type=content_type, status=status)
    response["Cache-Control"] = f"max-age={MAX_AGE}"
    response["ETag"] = etag
    return response


def environment_svg(request, project, env):
    state = environment_state(project, env)
    label = environment_badge_label(request, env)
    if state is None:
        return svg_response(request, label, NOT_FOUND, status=404)
    return svg_response(request, label, state["result"])


def project_svg(request, project):
    states = project_states(project)
    if states is None:
        return svg_response(request, PROJECT_LABEL, NOT_FOUND, status=404)
    return svg_response(request, PROJECT_LABEL, project_state(project, states)["result"])


def environment_json(request, project, env):
    state = environment_state(project, env)
    if state is None:
        return json_not_found(request, env, f"There is no environment '{env}' in project '{project}'.")
    state = noted(state, project_notes(project))
    return json_response(request, state, label=environment_badge_label(request, env))


def project_json(request, project):
    states = project_states(project)
    if states is None:
        return json_not_found(request, PROJECT_LABEL, f"There is no project '{project}'.")
    notes = project_notes(project)
    environments = [noted(state, notes) for state in states]
    return json_response(
        request, {**project_state(project, states), "environments": environments}, PROJECT_LABEL
    )


def json_response(request, state, label):
    """The status document, or with ``?format=shields`` a shields.io "endpoint" badge description."""
    lang = requested_language(request)
    if request.GET.get("format") == "shields":
        document = shields_document(label, badge_word(lang, state["result"]), state["result"])
    else:
        with translation.override(lang):
            document = {
                **state,
                "message": str(reasons.status_sentence(state["result"], state["reason"] or "")),
            }
    return json_body(request, document)


def json_not_found(request, label, message):
    if request.GET.get("format") == "shields":
        document = {
            **shields_document(label, badge_word(requested_language(request), NOT_FOUND), NOT_FOUND),
            "isError": True,
        }
    else:
        document = {"error": {"code": NOT_FOUND, "message": message}}
    return json_body(request, document, status=404)


def shields_document(label, message, result):
    return {"schemaVersion": 1, "label": label, "message": message, "color": COLORS[result].lstrip("#")}


def json_body(request, document, status=200):
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    response = cacheable(request, body, etag_of(body), "application/json", status)
    # Public status, meant to be read by other sites' pages and by shields.io.
    response["Access-Control-Allow-Origin"] = "*"
    return response
