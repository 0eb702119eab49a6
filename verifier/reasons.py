"""Reason codes for a check's result, shared by the checker, the API, the pages and the translations.

The values are a stable public contract (they appear in the API and in log entries): never rename one.
"""

from enum import StrEnum


class Result(StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNVERIFIABLE = "unverifiable"
    UNCHECKED = "unchecked"


class Reason(StrEnum):
    # red / mismatch: evidence of inconsistency
    UNREGISTERED_ARTIFACT = "unregistered_artifact"
    WRONG_RELEASE = "wrong_release"
    COMMIT_MISSING = "commit_missing"
    COMMIT_NOT_ON_BRANCH = "commit_not_on_branch"
    BAD_SIGNATURE = "bad_signature"
    NOT_IN_LOG = "not_in_log"
    # A release of several components: one differs from the deployed release's, is not reported, or is
    # reported but no component of the deployed release.
    COMPONENT_MISMATCH = "component_mismatch"
    COMPONENT_MISSING = "component_missing"
    COMPONENT_UNEXPECTED = "component_unexpected"
    # A web release's served files: one the site serves differs from the release's signed list (named
    # with both digests), or the site serves a script or stylesheet the list does not have (an injected
    # one, or an undeclared inline script where the project requires them declared).
    SERVED_FILE_MISMATCH = "served_file_mismatch"
    UNKNOWN_SERVED_FILE = "unknown_served_file"
    # A registered observer, from its own network, saw something other than the deployed release, or
    # other than what the portal saw at about the same time.
    OBSERVERS_DISAGREE = "observers_disagree"
    # An independent rebuilder rebuilt the running release's commit by its recorded instructions and got
    # other bytes, and no operator has answered it publicly yet.
    REBUILD_MISMATCH = "rebuild_mismatch"
    # green: every served file matched ("47 of 47 files match"); a layer's result, never a red light's
    SERVED_FILES_VERIFIED = "served_files_verified"
    # red / unverifiable: could not check
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    BAD_RESPONSE = "bad_response"
    TOO_LARGE = "too_large"
    FORBIDDEN_ADDRESS = "forbidden_address"
    REPO_UNREACHABLE = "repo_unreachable"
    NO_DEPLOYMENT = "no_deployment"
    # Fewer independent observers saw the deployed release recently than the project requires.
    NOT_ENOUGH_OBSERVERS = "not_enough_observers"
    # Fewer independent rebuilders reproduced the running release than the project requires.
    NOT_REPRODUCED = "not_reproduced"
    # The checker itself failed on this check (a bug, a record it cannot read): never a pass.
    CHECKER_ERROR = "checker_error"

    @property
    def result(self) -> Result:
        if self is Reason.SERVED_FILES_VERIFIED:
            return Result.VERIFIED
        return Result.MISMATCH if self in MISMATCH_REASONS else Result.UNVERIFIABLE


MISMATCH_REASONS = frozenset(
    {
        Reason.UNREGISTERED_ARTIFACT,
        Reason.WRONG_RELEASE,
        Reason.COMMIT_MISSING,
        Reason.COMMIT_NOT_ON_BRANCH,
        Reason.BAD_SIGNATURE,
        Reason.NOT_IN_LOG,
        Reason.COMPONENT_MISMATCH,
        Reason.COMPONENT_MISSING,
        Reason.COMPONENT_UNEXPECTED,
        Reason.SERVED_FILE_MISMATCH,
        Reason.UNKNOWN_SERVED_FILE,
        Reason.OBSERVERS_DISAGREE,
        Reason.REBUILD_MISMATCH,
    }
)
