"""Reason codes and results in plain words, in one place, for the pages, badges, feeds and admin.

Monitoring stores an English ``message`` meant for engineers; the public reads these sentences instead,
written for someone who has never heard of a digest. Every ``verifier.reasons.Reason`` has one (a test
makes sure), so a new reason code cannot reach a page without words. They live here, beside the status
they describe, so every room above monitoring reads them from one place.
"""

from django.utils.translation import gettext_lazy as _

from verifier.reasons import Reason, Result

REASON_SENTENCES = {
    Reason.UNREGISTERED_ARTIFACT: _("The server says it runs a version that was never published."),
    Reason.WRONG_RELEASE: _(
        "The server runs a different published version than the one last declared deployed."
    ),
    Reason.COMMIT_MISSING: _(
        "The source code this version claims to be built from cannot be found in the public repository."
    ),
    Reason.COMMIT_NOT_ON_BRANCH: _(
        "The source code of this version exists, but it was never accepted into the reviewed main line "
        "of the public repository."
    ),
    Reason.BAD_SIGNATURE: _("The signature on this version is not valid: we cannot tell who built it."),
    Reason.NOT_IN_LOG: _("This version or its deployment is missing from the public record."),
    Reason.COMPONENT_MISMATCH: _(
        "One of the pieces the server runs is not the one published for the version last declared deployed."
    ),
    Reason.COMPONENT_MISSING: _(
        "The server does not say what it runs for one of the pieces of the version last declared deployed."
    ),
    Reason.COMPONENT_UNEXPECTED: _(
        "The server runs a piece that is not part of the version last declared deployed."
    ),
    Reason.SERVED_FILE_MISMATCH: _(
        "A file the website sends to your browser is not the one published for this version."
    ),
    Reason.UNKNOWN_SERVED_FILE: _(
        "The website sends your browser a script or style sheet that is not part of the published version."
    ),
    Reason.OBSERVERS_DISAGREE: _(
        "An independent observer, checking from its own network, saw something other than what was published."
    ),
    Reason.REBUILD_MISMATCH: _(
        "An independent rebuilder built this version from its public source and got a different result."
    ),
    Reason.NOT_REPRODUCED: _(
        "Fewer independent rebuilders than the project requires have reproduced this version yet."
    ),
    Reason.SERVED_FILES_VERIFIED: _(
        "Every file the website sends to your browser matches the published version."
    ),
    Reason.UNREACHABLE: _("We could not reach the server."),
    Reason.TIMEOUT: _("The server took too long to answer."),
    Reason.BAD_RESPONSE: _("The server answered, but not in a form we can read."),
    Reason.TOO_LARGE: _("The server's answer was far too long to be a real answer."),
    Reason.FORBIDDEN_ADDRESS: _(
        "The server's address points inside a private network, which we do not visit."
    ),
    Reason.REPO_UNREACHABLE: _("We could not reach the public repository to check the source code."),
    Reason.NO_DEPLOYMENT: _("No deployment has been declared for this environment yet."),
    Reason.NOT_ENOUGH_OBSERVERS: _(
        "Fewer independent observers than the project requires have checked this server recently."
    ),
    Reason.CHECKER_ERROR: _("Our checker failed while checking this server; its operators can see why."),
}

RESULT_WORDS = {
    Result.VERIFIED: _("verified"),
    Result.MISMATCH: _("mismatch"),
    Result.UNVERIFIABLE: _("could not verify"),
    Result.UNCHECKED: _("not yet checked"),
}

# A piece of a release's evidence answers a question (signed? logged? on the protected branch?): the
# same four results as a light, said as an answer.
ANSWER_WORDS = {
    Result.VERIFIED: _("yes"),
    Result.MISMATCH: _("no"),
    Result.UNVERIFIABLE: _("could not check"),
    Result.UNCHECKED: _("not checked yet"),
}

# "Could not verify" is no evidence either way; the page says so, and who must act for the check to run.
NOT_EVIDENCE = {
    Reason.CHECKER_ERROR: _(
        "This is not evidence of tampering: the operators of this portal must fix the checker."
    ),
}
NOT_EVIDENCE_DEFAULT = _(
    "This is not evidence of tampering: the project's operators must make it possible to check again."
)

# Said when a result needs no reason code: a green light, or an environment never checked.
RESULT_SENTENCES = {
    Result.VERIFIED: _(
        "The server runs the version last declared deployed, signed by the project and built from "
        "reviewed public code."
    ),
    Result.MISMATCH: _("What the server runs does not match what was published."),
    Result.UNVERIFIABLE: _("We could not check what the server runs."),
    Result.UNCHECKED: _("This environment has not been checked yet."),
}


def reason_sentence(reason):
    """The plain sentence for a reason code, or '' for an empty or unknown code."""
    try:
        return REASON_SENTENCES[Reason(reason)]
    except ValueError:
        return ""


def answer_word(result):
    try:
        return ANSWER_WORDS[Result(result)]
    except ValueError:
        return ANSWER_WORDS[Result.UNCHECKED]


def result_word(result):
    try:
        return RESULT_WORDS[Result(result)]
    except ValueError:
        return RESULT_WORDS[Result.UNCHECKED]


def status_sentence(result, reason):
    """What a page says about a status: the reason's sentence, else the result's own sentence; for
    "could not verify", followed by the words that it is not evidence of tampering and who must act."""
    sentence = reason_sentence(reason) if result in (Result.MISMATCH, Result.UNVERIFIABLE) else ""
    if not sentence:
        try:
            sentence = RESULT_SENTENCES[Result(result)]
        except ValueError:
            sentence = RESULT_SENTENCES[Result.UNCHECKED]
    if result == Result.UNVERIFIABLE:
        return f"{sentence} {not_evidence(reason)}"
    return sentence


def not_evidence(reason):
    """That "could not verify" is not evidence of tampering, and who must act on ``reason``."""
    try:
        return NOT_EVIDENCE.get(Reason(reason), NOT_EVIDENCE_DEFAULT)
    except ValueError:
        return NOT_EVIDENCE_DEFAULT
