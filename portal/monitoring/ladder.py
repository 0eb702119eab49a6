"""The evidence ladder of an environment, as its page shows it: one rung per layer of evidence, each a
plain-words answer (yes, no, could not check, not checked) with its proof, and whether the project
requires it for a green light.

Read from the database only: the release's own evidence (``evidence.release_evidence``) for the first
two rungs, the environment's status for the server's report, and the layers its last check recorded
(``layers.judge``) for the files it serves and the observers.
"""

import datetime
from dataclasses import dataclass, field

from django.utils.translation import gettext, ngettext

from verifier.reasons import Reason, Result

from . import reasons
from .evidence import Piece, release_evidence, reproduced_sentence
from .layers import OBSERVERS, REBUILDS, SERVED_FILES


@dataclass(frozen=True)
class Rung:
    """One layer: ``key`` (its name in code), ``title``, ``piece`` (the answer), ``required`` (the
    project's green needs it), and what proves it: ``proof`` (a sentence) and ``reports`` (observers)."""

    key: str
    title: str
    piece: Piece
    required: bool
    proof: str = ""
    reports: list = field(default_factory=list)


@dataclass(frozen=True)
class ReportRow:
    """An observer's report as the ladder lists it; ``checked_at`` makes it a light like a check's."""

    observer: str
    report_id: int
    checked_at: datetime.datetime
    result: str
    reason: str
    live_digest: str


def report_rows(reports):
    return [
        ReportRow(
            observer=report["observer"],
            report_id=report["report_id"],
            checked_at=datetime.datetime.fromisoformat(report["observed_at"].replace("Z", "+00:00")),
            result=report["result"],
            reason=report.get("reason") or "",
            live_digest=report.get("live_digest") or "",
        )
        for report in reports
    ]


SERVER_REASONS = {
    Reason.UNREGISTERED_ARTIFACT,
    Reason.WRONG_RELEASE,
    Reason.COMPONENT_MISMATCH,
    Reason.COMPONENT_MISSING,
    Reason.COMPONENT_UNEXPECTED,
    Reason.UNREACHABLE,
    Reason.TIMEOUT,
    Reason.BAD_RESPONSE,
    Reason.TOO_LARGE,
    Reason.FORBIDDEN_ADDRESS,
}


def environment_ladder(environment, status, release):
    """The rungs of ``environment``'s ladder, lowest first. ``status`` is its ``Status`` (or None),
    ``release`` the release of its latest deployment (or None; its ``log_index`` read first)."""
    project = environment.project
    unchecked = Piece(Result.UNCHECKED.value, gettext("No version has been declared deployed here yet."))
    if release is not None:
        evidence = release_evidence(release)
        signed = evidence["signed"] if evidence["signed"].is_no else evidence["logged"]
        signed = Piece(
            signed.result,
            " ".join(str(piece.sentence) for piece in (evidence["signed"], evidence["logged"])),
        )
        branch = evidence["on_branch"]
    else:
        signed = branch = unchecked
    layers = (status.layers if status is not None and status.checked_at else None) or {}
    return [
        Rung("signed", gettext("Signed and in the public log"), signed, True),
        Rung("source", gettext("Built from reviewed code (on the protected branch)"), branch, True),
        Rung(
            "report",
            gettext("The server's own report"),
            server_report(status),
            True,
            proof=gettext("Where the server reports what it runs: %(url)s") % {"url": environment.live_url},
        ),
        served_rung(environment, layers.get(SERVED_FILES)),
        observers_rung(project, layers.get(OBSERVERS)),
        rebuilds_rung(project, layers.get(REBUILDS), release),
    ]


def server_report(status):
    """What the server said about itself, at the last check: the chain's answer unless a higher layer
    decided the light, in which case the server's report itself held."""
    if status is None or status.checked_at is None:
        return Piece(Result.UNCHECKED.value, str(reasons.status_sentence(Result.UNCHECKED.value, "")))
    reason = status.reason
    if status.result == Result.VERIFIED.value or (reason and Reason(reason) not in SERVER_REASONS):
        if status.live_digest or status.live_components:
            return Piece(
                Result.VERIFIED.value,
                gettext("The server says it runs exactly the version declared deployed."),
                status.checked_at,
            )
        return Piece(status.result, str(reasons.status_sentence(status.result, reason)), status.checked_at)
    return Piece(status.result, str(reasons.status_sentence(status.result, reason)), status.checked_at)


def served_rung(environment, layer):
    title = gettext("The files the website serves")
    required = bool(environment.site_url) and environment.project.require_served_files
    if not environment.site_url:
        piece = Piece(
            Result.UNCHECKED.value,
            gettext("This environment has no public web site to compare, so this layer does not apply."),
        )
        return Rung(SERVED_FILES, title, piece, False)
    if not layer:
        piece = Piece(Result.UNCHECKED.value, gettext("The files have not been compared yet."))
        return Rung(SERVED_FILES, title, piece, required, proof=environment.site_url)
    result, reason = layer["result"], layer.get("reason") or ""
    if result == Result.VERIFIED.value:
        sentence = ngettext(
            "%(matched)s of %(checked)s file the site serves matches the version's signed list.",
            "%(matched)s of %(checked)s files the site serves match the version's signed list.",
            layer.get("checked") or 0,
        ) % {"matched": layer.get("matched") or 0, "checked": layer.get("checked") or 0}
    else:
        sentence = str(reasons.status_sentence(result, reason))
    problems = layer.get("problems") or []
    proof = layer.get("message", "") if problems or result != Result.VERIFIED.value else environment.site_url
    return Rung(SERVED_FILES, title, Piece(result, sentence), required, proof=proof)


def observers_rung(project, layer):
    title = gettext("Independent observers")
    required = project.observers_required > 0
    if not layer:
        piece = Piece(
            Result.UNCHECKED.value,
            gettext("No independent observer has reported on this environment recently."),
        )
        return Rung(OBSERVERS, title, piece, required)
    result, reason = layer["result"], layer.get("reason") or ""
    reports = layer.get("reports") or []
    if result == Result.VERIFIED.value:
        sentence = ngettext(
            "%(count)s independent observer, checking from its own network, saw the version declared "
            "deployed.",
            "%(count)s independent observers, checking from their own networks, saw the version declared "
            "deployed.",
            layer.get("agreeing") or 0,
        ) % {"count": layer.get("agreeing") or 0}
    else:
        sentence = str(reasons.status_sentence(result, reason))
    return Rung(
        OBSERVERS,
        title,
        Piece(result, sentence),
        required,
        proof="" if result == Result.VERIFIED.value else layer.get("message", ""),
        reports=report_rows(reports),
    )


def rebuilds_rung(project, layer, release):
    title = gettext("Independent rebuilds")
    required = project.rebuilds_required > 0
    proof = release.get_absolute_url() + "#rebuilt" if release is not None else ""
    if not layer:
        piece = Piece(
            Result.UNCHECKED.value, gettext("No independent rebuilder has rebuilt this version yet.")
        )
        return Rung(REBUILDS, title, piece, required, proof=proof)
    result, reason = layer["result"], layer.get("reason") or ""
    if result == Result.VERIFIED.value:
        sentence = reproduced_sentence(layer.get("reproduced") or 0, layer.get("rebuilt_by") or 0)
    else:
        sentence = str(reasons.status_sentence(result, reason))
        proof = layer.get("message", "")
    return Rung(REBUILDS, title, Piece(result, sentence), required, proof=proof)
