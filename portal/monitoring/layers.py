"""The layers of evidence above the server's own report: the files the site serves, and what independent
observers saw. Pure: no writes, no fetches (the runner gathered what the site served, and the reports).

``judge`` takes the chain's ``Finding`` (``rules.examine``) and adds each layer's result under
``finding.layers``; a layer that fails turns the light the way the project said it must:

- served files (environments with a site URL): the files the site served compared with the deployed
  release's signed list (``verifier.served.compare_served``). When the project requires them (the
  default), a mismatch is red and a site that could not be read is amber; otherwise the layer is shown
  and the light keeps the chain's colour.
- observers: the latest report of each active observer in the last ``window`` about the deployment in
  place. One who saw something other than the deployed release, or other than what the portal saw, is
  evidence: red (``observers_disagree``), whatever the project requires. Fewer agreeing observers than the
  project requires is amber (``not_enough_observers``).
- rebuilds: the latest rebuild of the deployed release by each active rebuilder. One that got other
  bytes and that no operator has answered publicly is red (``rebuild_mismatch``), whatever the project
  requires; fewer reproductions than the project requires is amber (``not_reproduced``).

A layer never hides a broken link of the chain: a light that is already red or amber keeps its reason,
and the layers are recorded beside it.
"""

import datetime
import functools
import json
from dataclasses import dataclass

from django.utils import timezone

from portal.registry.models import Rebuild
from verifier.dsse import parse_envelope
from verifier.entries import format_time
from verifier.errors import CouldNotCheck, VerifierError
from verifier.reasons import Reason, Result
from verifier.served import compare_served
from verifier.statement import parse_statement

from .rules import BrokenLink, check_signature

SERVED_FILES = "served_files"
OBSERVERS = "observers"
REBUILDS = "rebuilds"
MIN_OBSERVER_WINDOW = datetime.timedelta(minutes=15)


def observer_window(environment):
    """How far back an observer's report counts: three check intervals, at least 15 minutes."""
    return max(MIN_OBSERVER_WINDOW, datetime.timedelta(seconds=3 * environment.check_interval))


def judge(environment, finding, *, deployment, served, reports, verified, now=None, rebuilds=()):
    """Add the layers to ``finding`` (see the module documentation) and return it."""
    project = environment.project
    layers = {}
    served_layer = served_files_layer(environment, deployment, served, verified)
    if served_layer is not None:
        layers[SERVED_FILES] = served_layer
    observers = observers_layer(environment, deployment, finding, reports, now or timezone.now())
    if observers is not None:
        layers[OBSERVERS] = observers
    rebuilt = rebuilds_layer(environment, deployment, rebuilds)
    if rebuilt is not None:
        layers[REBUILDS] = rebuilt
    finding.layers = layers
    if finding.result != Result.VERIFIED.value:
        return finding
    failing = []
    if observers is not None and observers["reason"] == Reason.OBSERVERS_DISAGREE.value:
        failing.append(observers)
    if served_layer is not None and project.require_served_files:
        failing.append(served_layer)
    for layer in (observers, rebuilt):
        if layer is not None and layer["result"] != Result.VERIFIED.value:
            failing.append(layer)
    for layer in sorted(failing, key=lambda layer: layer["result"] != Result.MISMATCH.value):
        if layer["result"] != Result.VERIFIED.value:
            finding.result, finding.reason, finding.message = (
                layer["result"],
                layer["reason"],
                layer["message"],
            )
            break
    return finding


def served_files_layer(environment, deployment, served, verified):
    """The served-files layer as a JSON object, or None for an environment without a site URL."""
    if served is None:
        return None
    site = environment.site_url
    if isinstance(served, CouldNotCheck):
        return {
            "result": Result.UNVERIFIABLE.value,
            "reason": Reason(served.reason).value,
            "message": f"The files {site} serves could not be checked: {served}",
        }
    if deployment is None:
        return None
    release = deployment.release
    try:
        statement = signed_statement(release, verified)
    except BrokenLink as broken:
        return {
            "result": broken.reason.result.value,
            "reason": broken.reason.value,
            "message": broken.message,
        }
    verdict = compare_served(
        served,
        statement.served_files,
        statement.inline_scripts,
        inline_must_be_declared=environment.project.inline_scripts_must_be_declared,
    )
    layer = verdict.to_json()
    layer["message"] = f"{site}, release {release.version}: {verdict.message}"
    return layer


def signed_statement(release, verified):
    """The deployed release's signed statement, once its signature is checked (``rules.check_signature``):
    the served-file list is read from the statement the signature covers, nowhere else."""
    check_signature(release, verified)
    try:
        return statement_of(
            release.sigstore_bundle if release.is_keyless else release.envelope, release.is_keyless
        )
    except (VerifierError, ValueError, KeyError, TypeError) as exc:
        raise BrokenLink(
            Reason.BAD_SIGNATURE, f"The signed statement of release {release.version} cannot be read: {exc}."
        ) from None


@functools.lru_cache(maxsize=1024)
def statement_of(stored, keyless):
    """The statement in a stored envelope (or, ``keyless``, a stored Sigstore bundle's envelope), parsed
    once per process: a check reads it to choose what to fetch and again to compare. Read only."""
    envelope = json.loads(stored)["dsseEnvelope"] if keyless else stored
    return parse_statement(parse_envelope(envelope).payload)


def listed_urls(deployment, verified):
    """The files of other origins the deployed release lists (full ``https://`` URLs): the only files of
    another origin the served-files fetch may load. Empty when the release cannot be read."""
    if deployment is None:
        return ()
    try:
        statement = signed_statement(deployment.release, verified)
    except BrokenLink:
        return ()
    return tuple(f.path for f in statement.served_files if f.path.startswith("https://"))


def observers_layer(environment, deployment, finding, reports, now):
    """The observers layer as a JSON object, or None when no observer reported and none is required.

    ``reports`` are the environment's reports in the window, newest first; only each observer's latest,
    about the deployment in place, counts.
    """
    required = environment.project.observers_required
    window_start = now - observer_window(environment)
    latest = {}
    for report in reports:
        if report.observed_at < window_start or report.observer.removed_at is not None:
            continue
        latest.setdefault(report.observer_id, report)
    current = [r for r in latest.values() if deployment is not None and r.deployment_id == deployment.pk]
    if not current and not required:
        return None
    seen = [report_json(report) for report in current]
    expected = deployment.release if deployment is not None else None
    for report in current:
        disagreement = disagreement_of(report, environment, expected, finding)
        if disagreement:
            return {
                "result": Result.MISMATCH.value,
                "reason": Reason.OBSERVERS_DISAGREE.value,
                "message": disagreement,
                "agreeing": None,
                "required": required,
                "reports": seen,
            }
    agreeing = sum(report.result == Result.VERIFIED.value for report in current)
    minutes = int(observer_window(environment).total_seconds() // 60)
    if agreeing < required:
        return {
            "result": Result.UNVERIFIABLE.value,
            "reason": Reason.NOT_ENOUGH_OBSERVERS.value,
            "message": (
                f"{agreeing} of the {required} independent observers the project requires saw the deployed "
                f"release of {environment} in the last {minutes} minutes."
            ),
            "agreeing": agreeing,
            "required": required,
            "reports": seen,
        }
    return {
        "result": Result.VERIFIED.value,
        "reason": "",
        "message": f"{agreeing} independent observer(s) saw the deployed release of {environment}.",
        "agreeing": agreeing,
        "required": required,
        "reports": seen,
    }


def disagreement_of(report, environment, expected, finding):
    """The sentence saying how ``report`` disagrees with the deployed release or with the portal's own
    check at about the same time, or ""."""
    who = f"Observer '{report.observer.name}' at {format_time(report.observed_at)}"
    if report.result == Result.MISMATCH.value:
        return (
            f"{who} saw something other than release {expected.version} ({expected.artifact_digest}) "
            f"deployed to {environment}: {report.message}"
        )
    if report.result == Result.VERIFIED.value and finding.live_digest and report.live_digest:
        if report.live_digest != finding.live_digest:
            return (
                f"{who} was served {report.live_digest}, while the portal was served {finding.live_digest} "
                f"by {environment}: the server answers differently depending on who asks."
            )
    return ""


def report_json(report):
    return {
        "observer": report.observer.name,
        "report_id": report.pk,
        "observed_at": format_time(report.observed_at),
        "result": report.result,
        "reason": report.reason,
        "live_digest": report.live_digest,
        "served_files_checked": report.served_files_checked,
        "served_files_matched": report.served_files_matched,
    }


def rebuilds_layer(environment, deployment, rebuilds):
    """The rebuilds layer as a JSON object, or None when nobody rebuilt the deployed release and the
    project requires no rebuild. ``rebuilds`` are the deployed release's, newest first."""
    required = environment.project.rebuilds_required
    if deployment is None:
        return None
    release = deployment.release
    tally = tally_rebuilds(release, rebuilds)
    if not tally.latest and not required:
        return None
    reproduced, unanswered = tally.reproduced, tally.unanswered
    result, reason = tally.verdict(required)
    if unanswered is not None:
        message = (
            f"Rebuilder '{unanswered.rebuilder.name}' rebuilt release {release.version} at "
            f"{format_time(unanswered.rebuilt_at)} and got {got_digests(unanswered)}, not the release's "
            f"{release.artifact_digest}; no operator has answered it yet."
        )
    elif reason:
        message = (
            f"Release {release.version} is reproduced by {reproduced} of the {required} independent "
            "rebuilders the project requires."
        )
    else:
        message = (
            f"Release {release.version} is reproduced by {reproduced} of {len(tally.latest)} rebuilders."
        )
    return {
        "result": result.value,
        "reason": reason,
        "message": message,
        "reproduced": reproduced,
        "rebuilt_by": len(tally.latest),
        "required": required,
        "rebuilds": [rebuild_json(rebuild) for rebuild in tally.latest],
    }


@dataclass(frozen=True)
class RebuildTally:
    """What a release's rebuilds say: ``latest``, the rebuilds that count (``latest_rebuilds``, newest
    first); ``reproduced``, how many of them got the release's own bytes; ``unanswered``, the first that
    got other bytes and that no operator has answered publicly (None if none)."""

    latest: list

    @property
    def reproduced(self):
        return sum(rebuild.result == Rebuild.Result.REPRODUCED for rebuild in self.latest)

    @property
    def unanswered(self):
        return next(
            (r for r in self.latest if r.result != Rebuild.Result.REPRODUCED and not is_answered(r)), None
        )

    def verdict(self, required):
        """``(Result, reason code or "")``: an unanswered differing rebuild is evidence (mismatch); fewer
        reproductions than ``required`` is could-not-verify. The one rule, for the light and the pages."""
        if self.unanswered is not None:
            return Result.MISMATCH, Reason.REBUILD_MISMATCH.value
        if self.reproduced < required:
            return Result.UNVERIFIABLE, Reason.NOT_REPRODUCED.value
        return Result.VERIFIED, ""


def tally_rebuilds(release, rebuilds):
    """The ``RebuildTally`` of ``release`` from ``rebuilds`` (newest first, with rebuilder and answer)."""
    return RebuildTally(list(latest_rebuilds(release, rebuilds).values()))


def latest_rebuilds(release, rebuilds):
    """``{rebuilder id: Rebuild}``: each active rebuilder's latest rebuild of ``release`` (``rebuilds``
    newest first). The one rule for which rebuilds count, on the pages as in the light."""
    latest = {}
    for rebuild in rebuilds:
        if rebuild.release_id == release.pk and rebuild.rebuilder.removed_at is None:
            latest.setdefault(rebuild.rebuilder_id, rebuild)
    return latest


def is_answered(rebuild):
    """Whether an operator answered ``rebuild`` publicly (its ``RebuildAnswer``, read with it)."""
    try:
        return rebuild.answer is not None
    except rebuild.__class__.answer.RelatedObjectDoesNotExist:
        return False


def got_digests(rebuild):
    return ", ".join(
        f"{subject['name']} {algorithm}:{value}"
        for subject in rebuild.subjects
        for algorithm, value in sorted(subject["digest"].items())[:1]
    )


def rebuild_json(rebuild):
    return {
        "rebuilder": rebuild.rebuilder.name,
        "rebuild_id": rebuild.pk,
        "rebuilt_at": format_time(rebuild.rebuilt_at),
        "result": rebuild.result,
        "subjects": rebuild.subjects,
        "answered": is_answered(rebuild),
    }
