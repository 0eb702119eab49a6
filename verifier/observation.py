"""An observer's signed observation: what a registered independent observer saw of an environment.

An observation is an in-toto Statement v1 (predicate type ``OBSERVATION_PREDICATE``) in a DSSE envelope
signed with the observer's own key; the format is in ``docs/formats/observation.md``. Its one subject
names what was checked, ``<project>/<environment>``, by the digest the observer expected to find there
(the deployed release's ``expected_digest``). When the environment has no deployment there is no
expected digest; the in-toto specification still requires a subject digest, so the subject then carries
the sha256 of the empty string (``EMPTY_SHA256``), which no release can have.

``build_observation`` writes the statement, ``sign_observation`` signs it, ``parse_observation`` reads a
signed payload strictly (a missing, extra or malformed member is a ``StatementError`` naming it), and
``verify_observation`` checks an envelope under one observer's key, then parses it.

Pure: no Django, no network, no clock.
"""

import datetime
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from verifier import dsse, jsontext
from verifier.digest import format_digest, parse_digest
from verifier.entries import format_time
from verifier.errors import FormatError, StatementError
from verifier.keys import PrivateKey, PublicKey
from verifier.reasons import Reason, Result
from verifier.statement import MAX_COMPONENT_NAME, STATEMENT_TYPE, component_digest, statement_to_payload

OBSERVATION_PREDICATE: Final = "https://vitrina.invalid/observation/v1"
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()

MAX_MESSAGE: Final = 2000
MAX_PROBLEMS: Final = 20
MAX_NAME: Final = 200
MAX_URL: Final = 2048
MAX_COMPONENTS: Final = 64

# The three results an observer can report (an observer that did not check posts nothing).
RESULTS: Final = (Result.VERIFIED, Result.MISMATCH, Result.UNVERIFIABLE)
PREDICATE_FIELDS: Final = (
    "portal",
    "project",
    "environment",
    "observer",
    "observed_at",
    "deployment_id",
    "release_id",
    "expected_digest",
    "live_url",
    "live_digest",
    "live_components",
    "served_files",
    "result",
    "reason",
    "message",
)
SERVED_FIELDS: Final = (
    "result",
    "reason",
    "message",
    "checked",
    "matched",
    "inline_scripts",
    "inline_declared",
    "problems",
)
PROBLEM_FIELDS: Final = ("reason", "path", "expected", "found")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@dataclass(frozen=True)
class ServedProblemSeen:
    """One served file that did not match: ``expected`` and ``found`` are ``sha256:<hex>`` or None."""

    reason: Reason
    path: str
    expected: str | None
    found: str | None

    def to_json(self) -> dict[str, Any]:
        return {"reason": str(self.reason), "path": self.path, "expected": self.expected, "found": self.found}


@dataclass(frozen=True)
class ServedFilesSeen:
    """What the observer found comparing the site's served files with the release's signed list, as
    ``verifier.served.ServedVerdict.to_json`` writes it; at most ``MAX_PROBLEMS`` problems."""

    result: Result
    reason: Reason | None
    message: str
    checked: int
    matched: int
    inline_scripts: int
    inline_declared: int
    problems: tuple[ServedProblemSeen, ...] = ()

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "ServedFilesSeen":
        """Read ``ServedVerdict.to_json()`` (the observer's own verdict) by the rules of
        ``parse_observation``: ``StatementError`` naming the member at fault. A message over
        ``MAX_MESSAGE`` characters is refused, so cut it first."""
        return _served_verdict(dict(value))

    def to_json(self) -> dict[str, Any]:
        return {
            "result": str(self.result),
            "reason": "" if self.reason is None else str(self.reason),
            "message": self.message,
            "checked": self.checked,
            "matched": self.matched,
            "inline_scripts": self.inline_scripts,
            "inline_declared": self.inline_declared,
            "problems": [problem.to_json() for problem in self.problems],
        }


@dataclass(frozen=True)
class Observation:
    """The predicate of a signed observation. ``observed_at`` is an aware UTC time (microseconds kept);
    ``expected_digest`` is ``""`` and ``deployment_id``/``release_id`` None when the environment had no
    deployment; ``live_digest`` and ``live_components`` are None when the live endpoint did not give them;
    ``reason`` is None for a plain ``verified``."""

    portal: str
    project: str
    environment: str
    observer: str
    observed_at: datetime.datetime
    deployment_id: int | None
    release_id: int | None
    expected_digest: str
    live_url: str
    live_digest: str | None
    live_components: Mapping[str, str] | None
    served_files: ServedFilesSeen | None
    result: Result
    reason: Reason | None
    message: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def subject_name(self) -> str:
        return f"{self.project}/{self.environment}"

    @property
    def subject_sha256(self) -> str:
        """The subject's sha256: the expected digest's hex, or ``EMPTY_SHA256`` when there is none."""
        return parse_digest(self.expected_digest) if self.expected_digest else EMPTY_SHA256


def build_observation(obs: Observation) -> dict[str, Any]:
    """The Statement v1 dict of ``obs``, ready for ``sign_observation``; ``FormatError`` if ``obs`` would
    not parse back (the same rules as ``parse_observation``, so nobody signs what the portal refuses)."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": obs.subject_name, "digest": {"sha256": obs.subject_sha256}}],
        "predicateType": OBSERVATION_PREDICATE,
        "predicate": {
            "portal": obs.portal,
            "project": obs.project,
            "environment": obs.environment,
            "observer": obs.observer,
            "observed_at": format_time(obs.observed_at),
            "deployment_id": obs.deployment_id,
            "release_id": obs.release_id,
            "expected_digest": obs.expected_digest,
            "live_url": obs.live_url,
            "live_digest": obs.live_digest,
            "live_components": None if obs.live_components is None else dict(obs.live_components),
            "served_files": None if obs.served_files is None else obs.served_files.to_json(),
            "result": str(obs.result),
            "reason": "" if obs.reason is None else str(obs.reason),
            "message": obs.message,
        },
    }
    try:
        parse_observation(statement_to_payload(statement))
    except StatementError as e:
        raise FormatError(f"the observation is not valid: {e}") from None
    return statement


def sign_observation(obs: Observation, private_key: PrivateKey) -> dict[str, Any]:
    """The DSSE envelope (a JSON-ready dict) of ``obs`` signed with the observer's ``private_key``."""
    payload = statement_to_payload(build_observation(obs))
    return dsse.sign_envelope(payload, private_key, keyid=private_key.public_key.key_id)


def verify_observation(envelope_text: object, public_key: PublicKey) -> Observation:
    """The observation in ``envelope_text`` (JSON text, bytes or a decoded dict), once its signature
    verifies under ``public_key``, the observer's one key: ``FormatError`` for a malformed envelope,
    ``SignatureError`` for a signature that does not verify, ``StatementError`` for a payload that is not
    an observation."""
    envelope = dsse.parse_envelope(envelope_text)
    dsse.verify_envelope(envelope, [public_key])
    return parse_observation(envelope.payload)


def parse_observation(payload: bytes) -> Observation:
    """Read a signed payload as an observation, strictly: ``StatementError`` naming the member at fault
    for anything missing, extra, of the wrong type, over a cap, or inconsistent (a subject that is not
    ``<project>/<environment>`` with the expected digest, a reason of another result)."""
    try:
        raw = jsontext.loads_object(payload, what="the signed payload")
    except FormatError as e:
        raise StatementError(f"{e}, so not an observation") from None
    if raw.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"_type must be {STATEMENT_TYPE}")
    if raw.get("predicateType") != OBSERVATION_PREDICATE:
        raise StatementError(f"predicateType must be {OBSERVATION_PREDICATE}")
    predicate = raw.get("predicate")
    if not isinstance(predicate, dict):
        raise StatementError("predicate must be an object")
    _exact_members(predicate, PREDICATE_FIELDS, "predicate")
    p = _Reader(predicate, "predicate")
    expected_digest = p.digest("expected_digest", empty_ok=True)
    deployment_id = p.optional_id("deployment_id")
    release_id = p.optional_id("release_id")
    if (deployment_id is None) != (release_id is None) or (deployment_id is None) != (not expected_digest):
        raise StatementError(
            "predicate.deployment_id, release_id and expected_digest must be all set (a deployment was "
            "expected) or all empty (null, null and '': no deployment)"
        )
    result, reason = _result_and_reason(p, "predicate")
    obs = Observation(
        portal=p.text("portal", MAX_URL),
        project=p.text("project", MAX_NAME),
        environment=p.text("environment", MAX_NAME),
        observer=p.text("observer", MAX_NAME),
        observed_at=p.time("observed_at"),
        deployment_id=deployment_id,
        release_id=release_id,
        expected_digest=expected_digest,
        live_url=p.text("live_url", MAX_URL),
        live_digest=p.optional_digest("live_digest"),
        live_components=_components(predicate["live_components"]),
        served_files=_served_files(predicate["served_files"]),
        result=result,
        reason=reason,
        message=p.text("message", MAX_MESSAGE, empty_ok=True),
        raw=raw,
    )
    _check_subject(raw.get("subject"), obs)
    return obs


class _Reader:
    """Typed reads of one object's members, each failure a ``StatementError`` naming ``where.member``."""

    def __init__(self, obj: dict[str, Any], where: str) -> None:
        self.obj = obj
        self.where = where

    def fail(self, name: str, what: str) -> StatementError:
        return StatementError(f"{self.where}.{name} must be {what}")

    def text(self, name: str, limit: int, *, empty_ok: bool = False) -> str:
        value = self.obj[name]
        if not isinstance(value, str) or len(value) > limit or not (value or empty_ok):
            empty = "" if empty_ok else "non-empty "
            raise self.fail(name, f"a {empty}string of at most {limit} characters")
        return value

    def count(self, name: str) -> int:
        value = self.obj[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(name, "a whole number, 0 or more")
        return value

    def optional_id(self, name: str) -> int | None:
        value = self.obj[name]
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(name, "a positive whole number or null")
        return value

    def digest(self, name: str, *, empty_ok: bool = False, null_ok: bool = False) -> str:
        value = self.obj[name]
        if value is None and null_ok or value == "" and empty_ok:
            return ""
        try:
            return format_digest(parse_digest(value))
        except FormatError as e:
            alternatives = " or ''" * empty_ok + " or null" * null_ok
            raise self.fail(name, f"'sha256:<64 lowercase hex>'{alternatives} ({e})") from None

    def optional_digest(self, name: str) -> str | None:
        return self.digest(name, null_ok=True) or None

    def time(self, name: str) -> datetime.datetime:
        value = self.obj[name]
        moment = None
        if isinstance(value, str) and _TIME.fullmatch(value):
            try:
                moment = datetime.datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=datetime.UTC)
            except ValueError:
                moment = None
        if moment is None:
            raise self.fail(name, "a UTC time written like 2026-12-02T10:00:00.000000Z")
        return moment

    def reason(self, name: str) -> Reason | None:
        value = self.obj[name]
        if value == "":
            return None
        try:
            return Reason(value)
        except ValueError:
            raise self.fail(name, "'' or a reason code of verifier/reasons.py") from None


def _exact_members(obj: dict[str, Any], members: tuple[str, ...], where: str) -> None:
    missing = [name for name in members if name not in obj]
    extra = sorted(name for name in obj if name not in members)
    if missing:
        raise StatementError(f"{where} has no {', '.join(missing)}")
    if extra:
        shown = ", ".join(repr(name[:40]) for name in extra[:5])
        raise StatementError(f"{where} has members an observation does not have: {shown}")


def _result_and_reason(reader: _Reader, where: str) -> tuple[Result, Reason | None]:
    """The result and its reason, which must agree: a reason of the same result, none only for verified."""
    value = reader.obj["result"]
    if value not in RESULTS:
        raise reader.fail("result", "'verified', 'mismatch' or 'unverifiable'")
    result = Result(value)
    reason = reader.reason("reason")
    if (reason.result if reason is not None else Result.VERIFIED) != result:
        shown = "" if reason is None else str(reason)
        raise StatementError(f"{where}.reason {shown!r} is not a reason for the result {str(result)!r}")
    return result, reason


def _components(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value or len(value) > MAX_COMPONENTS:
        raise StatementError(
            f"predicate.live_components must be null or an object naming 1 to {MAX_COMPONENTS} components"
        )
    for name, digest in value.items():
        if not name or len(name) > MAX_COMPONENT_NAME:
            raise StatementError(
                f"predicate.live_components: a name must be 1 to {MAX_COMPONENT_NAME} characters"
            )
        try:
            component_digest(digest)
        except FormatError as e:
            raise StatementError(f"predicate.live_components[{name[:80]!r}]: {e}") from None
    return dict(value)


def _served_files(value: object) -> ServedFilesSeen | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise StatementError("predicate.served_files must be null or an object")
    return _served_verdict(value)


def _served_verdict(value: dict[str, Any]) -> ServedFilesSeen:
    where = "predicate.served_files"
    _exact_members(value, SERVED_FIELDS, where)
    reader = _Reader(value, where)
    result, reason = _result_and_reason(reader, where)
    problems = value["problems"]
    if not isinstance(problems, list) or len(problems) > MAX_PROBLEMS:
        raise reader.fail("problems", f"a list of at most {MAX_PROBLEMS} problems")
    checked, matched = reader.count("checked"), reader.count("matched")
    if matched > checked:
        raise StatementError(f"{where}.matched ({matched}) is more than checked ({checked})")
    return ServedFilesSeen(
        result=result,
        reason=reason,
        message=reader.text("message", MAX_MESSAGE, empty_ok=True),
        checked=checked,
        matched=matched,
        inline_scripts=reader.count("inline_scripts"),
        inline_declared=reader.count("inline_declared"),
        problems=tuple(_problem(problem, f"{where}.problems[{i}]") for i, problem in enumerate(problems)),
    )


def _problem(value: object, where: str) -> ServedProblemSeen:
    if not isinstance(value, dict):
        raise StatementError(f"{where} must be an object")
    _exact_members(value, PROBLEM_FIELDS, where)
    reader = _Reader(value, where)
    reason = reader.reason("reason")
    if reason is None:
        raise reader.fail("reason", "a reason code of verifier/reasons.py")
    return ServedProblemSeen(
        reason=reason,
        path=reader.text("path", MAX_URL),
        expected=reader.optional_digest("expected"),
        found=reader.optional_digest("found"),
    )


def _check_subject(subjects: object, obs: Observation) -> None:
    """The one subject names the observed environment by the expected digest, as the predicate says."""
    expected = {"name": obs.subject_name, "digest": {"sha256": obs.subject_sha256}}
    if not isinstance(subjects, list) or len(subjects) != 1 or subjects[0] != expected:
        raise StatementError(
            f"subject must be the one entry {expected!r} (the observed environment and the expected digest "
            f"of the predicate, or the sha256 of '' when there is none)"
        )
