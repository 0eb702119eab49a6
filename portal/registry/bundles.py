"""Proof bundles: everything a volunteer needs to check a release (with its independent rebuilds),
deployment, operator's note or observer's report offline, in one JSON.

The format (``bundle_version`` 1) is documented in ``docs/formats/bundle.md`` and checked by
``verifier.bundle.verify_bundle``. The record in a bundle is read from the database row *now*, not
copied from the log entry: the verifier compares the two, so a row edited since it was logged shows.
The records are the rows' entry bodies without ``by`` (``verifier.entries``), the same the self-audit
compares. Bundles live with the records they prove, above the log they take their proofs from.

Every proof in one bundle is under one checkpoint, ``witnesses.checkpoint_for_bundle``'s (the most
cosigned recent one that covers the bundle's newest entry), carried as ``witnesses.cosigned_note``: the
log's signed note with the witnesses' cosignature lines.
"""

import re

from django.conf import settings

from portal.transparency.services import b64, ensure_integrated, entry_for, get_inclusion_proof
from portal.transparency.signing import verifier_key
from portal.transparency.witnesses import checkpoint_for_bundle, cosigned_note

from .services import (
    deployment_entry_body,
    note_entry_body,
    observer_report_entry_body,
    rebuild_entry_body,
    release_entry_body,
)

BUNDLE_VERSION = 1


class NotLogged(Exception):
    """The record has no log entry, so there is nothing to prove."""


def release_bundle(release, checkpoint=None, rebuilds=()):
    """A release's bundle, carrying ``rebuilds`` (some of its ``Rebuild`` rows, their rebuilders read with
    them; the API passes those its light counts) each with its log proof. ``checkpoint``, when given,
    must cover the release's entry and theirs; by default ``bundle_checkpoint``'s."""
    entry = _entry(release, "release")
    rebuilt = [(rebuild, _entry(rebuild, "rebuild")) for rebuild in rebuilds]
    checkpoint = checkpoint or bundle_checkpoint(latest(entry, *(logged for _, logged in rebuilt)))
    if release.is_keyless:
        evidence = {"sigstore_bundle": release.sigstore_bundle, "identities": identities_info(release)}
    else:
        evidence = {"envelope": release.envelope, "signing_keys": [signing_key_info(release.signer_key)]}
    bundle = {
        "bundle_version": BUNDLE_VERSION,
        "kind": "release",
        "release": release_entry_body(release),
        **evidence,
        "log": log_proof(entry, checkpoint),
        "project": project_info(release.project),
    }
    if rebuilt:  # optional: a release nobody rebuilt has none
        bundle["rebuilds"] = [rebuild_info(rebuild, logged, checkpoint) for rebuild, logged in rebuilt]
    return bundle


def rebuild_info(rebuild, entry, checkpoint):
    """One rebuild in a release's bundle: its record, the envelope as stored, its rebuilder and log proof."""
    return {
        "rebuild": rebuild_entry_body(rebuild),
        "envelope": rebuild.envelope,
        "rebuilder": party_info(rebuild.rebuilder),
        "log": log_proof(entry, checkpoint),
    }


def bundle_checkpoint(entry):
    """The checkpoint whose proofs a bundle carries, when ``entry`` is its newest entry: the most cosigned
    recent one that covers it (``checkpoint_for_bundle``), integrating the entry first if need be."""
    ensure_integrated(entry)
    return checkpoint_for_bundle(entry.index)


def latest(*entries):
    """The latest of log entries: a checkpoint that covers it covers them all."""
    return max(entries, key=lambda entry: entry.index)


def identities_info(release):
    """The CI identities the project trusted when the keyless release was registered: the policies its
    Sigstore bundle was verified under (each one's added and removed entries are in the log)."""
    return [
        {"issuer": i.issuer, "repository": i.repository, "workflow": i.workflow, "ref": i.ref}
        for i in release.project.identities.all()
        if i.is_trusted_at(release.registered_at)
    ]


def deployment_bundle(deployment, rebuilds=()):
    """A deployment's bundle, its release's inside (carrying ``rebuilds``, as ``release_bundle``)."""
    entry = _entry(deployment, "deployment")
    release_entries = [_entry(deployment.release, "release")] + [_entry(r, "rebuild") for r in rebuilds]
    # One checkpoint for every proof; the latest entry decides whether to integrate.
    checkpoint = bundle_checkpoint(latest(entry, *release_entries))
    return {
        "bundle_version": BUNDLE_VERSION,
        "kind": "deployment",
        "deployment": deployment_entry_body(deployment),
        "log": log_proof(entry, checkpoint),
        "project": project_info(deployment.environment.project),
        "release_bundle": release_bundle(deployment.release, checkpoint, rebuilds),
    }


def note_bundle(note):
    """An operator's note as logged: its record and log proof. A statement, not evidence of what runs."""
    entry = _entry(note, "note")
    return {
        "bundle_version": BUNDLE_VERSION,
        "kind": "note",
        "note": note_entry_body(note),
        "log": log_proof(entry, bundle_checkpoint(entry)),
        "project": project_info(note.project),
    }


def observer_report_bundle(report):
    """An independent observer's report as it signed it and as the portal logged it: the record, the
    envelope as stored, the observer's public key and the log proof."""
    entry = _entry(report, "observer_report")
    return {
        "bundle_version": BUNDLE_VERSION,
        "kind": "observer_report",
        "observer_report": observer_report_entry_body(report),
        "envelope": report.envelope,
        "observer": party_info(report.observer),
        "log": log_proof(entry, bundle_checkpoint(entry)),
        "project": project_info(report.environment.project),
    }


def party_info(party):
    """An observer or a rebuilder as a bundle names the signer of its statement."""
    return {
        "name": party.name,
        "key_id": party.key_id,
        "algorithm": party.algorithm,
        "public_key_pem": party.public_key_pem,
    }


def signing_key_info(signing_key):
    return {
        "key_id": signing_key.key_id,
        "algorithm": signing_key.algorithm,
        "public_key_pem": signing_key.public_key_pem,
    }


def project_info(project):
    return {"slug": project.slug, "repo_url": project.repo_url, "protected_branch": project.protected_branch}


def log_proof(entry, checkpoint):
    return {
        "origin": settings.VITRINA_LOG_ORIGIN,
        "verifier_key": verifier_key(),
        "index": entry.index,
        "entry_b64": b64(bytes(entry.entry)),
        "tree_size": checkpoint.size,
        "inclusion_proof": [b64(h) for h in get_inclusion_proof(entry.index, checkpoint.size)],
        "checkpoint": cosigned_note(checkpoint),
    }


def bundle_filename(bundle):
    """A download name made only of safe characters: versions are free text."""
    record = bundle[bundle["kind"]]
    if bundle["kind"] == "release":
        name = f"{record['project']}-{record['version']}"
    elif bundle["kind"] == "note":
        name = f"{record['project']}-note-{record['note_id']}"
    elif bundle["kind"] == "observer_report":
        name = f"{record['project']}-{record['environment']}-observer-report-{record['report_id']}"
    else:
        name = f"{record['project']}-{record['environment']}-deployment-{record['deployment_id']}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".bundle.json"


def _entry(record, kind):
    entry = entry_for(kind, record.pk)
    if entry is None:
        raise NotLogged(f"{kind} {record.pk} has no log entry")
    return entry
