"""A release's own evidence, as its page shows it: each piece a yes, a no or an unknown, in plain words.

Read from the database only (never a live fetch): the signature is the environment checks' own
(``rules.check_signature``, memoized as theirs), the repository's answer is the latest recorded
``ReleaseRepositoryCheck`` (``monitoring.releases``). A piece's answer is a check result, so it takes
the lights' icons and colours; its words are ``reasons.answer_word``.
"""

from dataclasses import dataclass

from django.utils.translation import gettext, ngettext

from portal.http import public_time
from verifier.reasons import Reason, Result

from . import reasons
from .layers import signed_statement, tally_rebuilds
from .models import latest_repository_check
from .rules import BrokenLink, check_signature
from .runner import verified_signatures


@dataclass(frozen=True)
class Piece:
    """One piece of evidence: ``result`` (verified = yes, mismatch = no, could not verify, not yet
    checked), a translated ``sentence`` saying what was found, and ``checked_at`` where it was asked."""

    result: str
    sentence: str
    checked_at: object = None

    @property
    def is_no(self):
        return self.result == Result.MISMATCH.value


def signed(release):
    """Whether the stored envelope verifies under the release's signing key, trusted at registration."""
    if release.is_keyless:
        # No project key: its Sigstore bundle was verified offline under a trusted CI identity when it
        # was registered, and the proof bundle carries it for anyone to verify again.
        return Piece(
            Result.VERIFIED.value,
            gettext(
                "Signed in CI with a short-lived Sigstore certificate issued to a workflow the project "
                "trusts; verified when this version was registered."
            ),
        )
    key = release.signer_key
    try:
        check_signature(release, verified_signatures)
    except BrokenLink:
        return Piece(Result.MISMATCH.value, str(reasons.reason_sentence(Reason.BAD_SIGNATURE)))
    sentence = gettext(
        "Signed with the project's key %(key)s (%(algorithm)s), which the project trusted when this "
        "version was registered."
    ) % {"key": key.label or key.short_id, "algorithm": key.get_algorithm_display()}
    if key.revoked_at is not None:
        sentence += " " + gettext(
            "The key was revoked later, on %(date)s; that does not undo this signature."
        ) % {"date": public_time(key.revoked_at)[:10]}
    return Piece(Result.VERIFIED.value, sentence)


def logged(release):
    """Whether the release has its entry in the public log (``release.log_index`` and ``log_pending``, read
    upstream): an entry queued with the release and not numbered yet is no evidence against it."""
    if release.log_pending:
        return Piece(
            Result.UNCHECKED.value,
            gettext("Written to the public log with the release; its entry gets its number within a second."),
        )
    if release.log_index is None:
        return Piece(Result.MISMATCH.value, str(reasons.reason_sentence(Reason.NOT_IN_LOG)))
    return Piece(
        Result.VERIFIED.value,
        gettext(
            "Entry #%(index)s of the public log: it cannot be changed or removed without anyone noticing. "
            "The proof bundle carries the proof that the log holds it."
        )
        % {"index": release.log_index},
    )


def on_branch(release, check):
    """What the repository said, at its latest check (``check``, None while never asked)."""
    branch = release.project.protected_branch
    if check is None:
        return Piece(
            Result.UNCHECKED.value,
            gettext(
                "The repository has not been asked yet; it is asked shortly after a version is registered."
            ),
        )
    if check.on_branch:
        sentence = gettext(
            "The source commit is on the protected branch “%(branch)s”, where code arrives after review."
        ) % {"branch": branch}
    else:
        sentence = str(reasons.status_sentence(check.result, check.reason))
    return Piece(check.result, sentence, check.checked_at)


def release_evidence(release):
    """``{"signed", "logged", "on_branch", "rebuilt", "rebuilds", "build"}``: the pieces of ``release``'s
    evidence, its latest rebuild by each rebuilder (newest first) and how to rebuild it (the signed
    statement's ``BuildInstructions``, or None). ``release.log_index`` must be read first
    (``web.views.log_indexes``)."""
    check = latest_repository_check(release)
    tally = tally_rebuilds(release, release.rebuilds.select_related("rebuilder", "answer"))
    return {
        "signed": signed(release),
        "logged": logged(release),
        "on_branch": on_branch(release, check),
        "rebuilt": rebuilt(release, tally),
        "rebuilds": tally.latest,
        "build": build_instructions(release),
    }


def rebuilt(release, tally):
    """Whether independent rebuilders got the release's own bytes: reproduced by N of M, judged as the
    light judges it (``RebuildTally.verdict``); "no" too when nobody reproduced it."""
    reproduced, count = tally.reproduced, len(tally.latest)
    if not count:
        return Piece(
            Result.UNCHECKED.value,
            gettext("No independent rebuilder has rebuilt this version yet."),
        )
    result, reason = tally.verdict(release.project.rebuilds_required)
    if reproduced == count:
        # Only when every rebuilder got the release's bytes does the page say the result is the same.
        sentence = ngettext(
            "Reproduced by %(reproduced)s of %(count)s independent rebuilder: built again from the public "
            "source, by the recorded instructions, the result is the same bytes.",
            "Reproduced by %(reproduced)s of %(count)s independent rebuilders: built again from the public "
            "source, by the recorded instructions, the result is the same bytes.",
            count,
        ) % {"reproduced": reproduced, "count": count}
    else:
        sentence = reproduced_sentence(reproduced, count)
        if reason == Reason.REBUILD_MISMATCH.value:
            sentence += " " + str(reasons.reason_sentence(Reason.REBUILD_MISMATCH))
    if result is Result.VERIFIED and not reproduced:
        result = Result.MISMATCH
    return Piece(result.value, sentence)


def reproduced_sentence(reproduced, count):
    """ "Reproduced by N of M independent rebuilders.", for the release page and the ladder alike."""
    return ngettext(
        "Reproduced by %(reproduced)s of %(count)s independent rebuilder.",
        "Reproduced by %(reproduced)s of %(count)s independent rebuilders.",
        count,
    ) % {"reproduced": reproduced, "count": count}


def build_instructions(release):
    """How the release says it can be rebuilt (``BuildInstructions``), or None when it does not say, or
    when its signed statement does not verify (its page says so elsewhere)."""
    try:
        return signed_statement(release, verified_signatures).build
    except BrokenLink:
        return None


def deploy_caution(release):
    """What an operator must confirm before declaring ``release`` deployed, in a sentence, or "": its
    source is off the protected branch or missing, or the repository never answered about it."""
    check = latest_repository_check(release)
    if check is None or check.on_branch is None:
        return gettext(
            "The repository has not confirmed yet that the source commit of %(version)s is on the "
            "protected branch “%(branch)s”."
        ) % {"version": release.version, "branch": release.project.protected_branch}
    if check.on_branch is False:
        return gettext(
            "The source commit of %(version)s is not on the protected branch “%(branch)s”: it was never "
            "reviewed, and the verifier rejects this version."
        ) % {"version": release.version, "branch": release.project.protected_branch}
    return ""
