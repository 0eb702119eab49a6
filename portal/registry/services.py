"""Registering keys, releases and deployments: the one place where these business rules live.

The API, the admin and the management commands all call these functions. Each either writes the
record and its transparency-log entry in one transaction, or raises ``Refused`` and writes nothing.
"""

import datetime
import hashlib
import json
import re
import secrets
import unicodedata
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.http import Refusal
from portal.transparency.actors import actor
from portal.transparency.services import LogClosed, append_entry
from verifier import dsse, entries, jsontext, keyless, observation, rebuilds
from verifier.errors import (
    ClaimMismatch,
    FormatError,
    SignatureError,
    StatementError,
    UntrustedSigner,
    VerifierError,
)
from verifier.keyless import KeylessError
from verifier.keys import load_public_key
from verifier.release import Claims, check_release, same_repository
from verifier.statement import parse_statement

from .models import (
    NOTE_MAX_LENGTH,
    Deployment,
    Environment,
    Observer,
    ObserverReport,
    Project,
    Rebuild,
    RebuildAnswer,
    Rebuilder,
    Release,
    ReleaseComponent,
    SigningKey,
    StatusNote,
    TrustedIdentity,
)

# A version names the release's page (/p/<slug>/releases/<version>/): one path segment, never ".." or "a/b".
VERSION_PATTERN = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]*")
# No deployment of a signed, logged release predates this: an earlier deployed_at is a mistake.
EARLIEST_DEPLOYMENT = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class Refused(Refusal):
    """A registration refused, with the field at fault and one sentence saying why.

    ``status`` is the HTTP status the API answers with: 400 bad input, 403 not allowed, 404 unknown,
    409 conflicting with what is already recorded, 503 the log closed after a failed self-audit (no
    ``field`` is at fault then: it is None). It is an HTTP ``Refusal`` so that the neutral HTTP edge
    answers it in the API's error shape without importing the registry.
    """


def append_or_refuse(kind, body, *, object_id):
    """Append the record's log entry; a log closed after a failed self-audit refuses the record (503)."""
    try:
        return append_entry(kind, body, object_id=object_id)
    except LogClosed as exc:
        raise Refused(None, exc.message, status=503) from exc


# --- signing keys ---------------------------------------------------------------------------------


@transaction.atomic
def add_signing_key(project, pem, *, label="", valid_from=None, valid_until=None, user=None):
    """Trust a public key for a project's releases. Idempotent: the same key twice returns the first."""
    try:
        key = load_public_key(pem)
    except FormatError as exc:
        raise Refused("public_key_pem", str(exc)) from exc
    existing = SigningKey.objects.filter(project=project, key_id=key.key_id).first()
    if existing is not None:
        return existing, False
    signing_key = SigningKey.objects.create(
        project=project,
        label=label,
        public_key_pem=key.pem,
        algorithm=key.algorithm,
        key_id=key.key_id,
        valid_from=valid_from or timezone.now(),
        valid_until=valid_until,
    )
    append_or_refuse(
        "key_added", key_added_entry_body(signing_key, by=actor(user=user)), object_id=signing_key.pk
    )
    return signing_key, True


# The rows' entry bodies: the values ``verifier.entries`` puts in each entry, read from the row. ``by`` None
# leaves it out: the record as the self-audit (``audit``) and the proof bundles (``bundles``) compare it.


def row_entry_body(kind, row, *, by=None, **given):
    """``row``'s ``kind`` entry body: each member of the entry type (``verifier.entries.ENTRY_FIELDS``) is
    its value in ``given``, else the row's field of the same name."""
    members = entries.entry_fields(kind).members
    values = {name: given[name] if name in given else getattr(row, name) for name in members}
    return entries.entry_body(kind, values, by=by)


def key_added_entry_body(signing_key, *, by=None):
    return row_entry_body("key_added", signing_key, by=by, project=signing_key.project.slug)


@transaction.atomic
def revoke_signing_key(signing_key, *, at=None, user=None):
    """Revoke a key from ``at`` (default now). Releases signed before stay valid; later ones are refused."""
    signing_key = SigningKey.objects.select_for_update().get(pk=signing_key.pk)
    if signing_key.revoked_at is not None:
        return signing_key
    signing_key.revoked_at = at or timezone.now()
    signing_key.save(update_fields=["revoked_at"])
    append_or_refuse(
        "key_revoked", key_revoked_entry_body(signing_key, by=actor(user=user)), object_id=signing_key.pk
    )
    return signing_key


def key_revoked_entry_body(signing_key, *, by=None):
    return row_entry_body("key_revoked", signing_key, by=by, project=signing_key.project.slug)


# --- trusted CI identities (keyless releases) ------------------------------------------------------


@transaction.atomic
def add_identity(project, *, issuer, repository, workflow="", ref="", user=None):
    """Trust a CI identity for a project's keyless releases. Idempotent: the same policy, still trusted,
    returns the first. Its repository must be the project's: a release is built from the project's code."""
    issuer, repository, workflow, ref = (value.strip() for value in (issuer, repository, workflow, ref))
    check_identity(project, issuer=issuer, repository=repository)
    policy = {"issuer": issuer, "repository": repository, "workflow": workflow, "ref": ref}
    existing = TrustedIdentity.objects.filter(project=project, removed_at=None, **policy).first()
    if existing is not None:
        return existing, False
    identity = TrustedIdentity.objects.create(project=project, **policy, added_at=timezone.now())
    append_or_refuse(
        "identity_added", identity_added_entry_body(identity, by=actor(user=user)), object_id=identity.pk
    )
    return identity, True


def check_identity(project, *, issuer, repository):
    """``Refused`` naming the field at fault unless ``project`` may trust this issuer and repository: the
    issuer is an https:// URL, and the repository is the project's own (a release is built from its code)."""
    if not issuer.strip().startswith("https://"):
        raise Refused("issuer", f"issuer {issuer!r} must be the OIDC issuer's https:// URL.")
    if not same_repository(repository.strip(), project.repo_url):
        raise Refused(
            "repository",
            f"repository {repository!r} is not the repository of project '{project.slug}' "
            f"({project.repo_url!r}).",
        )


def identity_added_entry_body(identity, *, by=None):
    return row_entry_body(
        "identity_added", identity, by=by, project=identity.project.slug, identity_id=identity.pk
    )


@transaction.atomic
def remove_identity(identity, *, at=None, user=None):
    """Stop trusting a CI identity from ``at`` (default now); releases registered before stay valid."""
    identity = TrustedIdentity.objects.select_for_update().get(pk=identity.pk)
    if identity.removed_at is not None:
        return identity
    identity.removed_at = at or timezone.now()
    identity.save(update_fields=["removed_at"])
    append_or_refuse(
        "identity_removed", identity_removed_entry_body(identity, by=actor(user=user)), object_id=identity.pk
    )
    return identity


def identity_removed_entry_body(identity, *, by=None):
    return row_entry_body(
        "identity_removed", identity, by=by, project=identity.project.slug, identity_id=identity.pk
    )


# --- releases -------------------------------------------------------------------------------------


def check_evidence(project, envelope_text, moment, claims):
    """``verifier.release.check_release`` on the envelope, the project's keys and the request's claims,
    its errors spoken as ``Refused``; return the ``(SigningKey, Statement)`` it vouches for."""
    signing_keys = {key.key_id: key for key in project.signing_keys.all()}
    try:
        checked = check_release(
            envelope_text,
            [key.trusted() for key in signing_keys.values()],
            at=moment,
            claims=Claims(**{name: claims.get(name) or None for name in CLAIMED_FIELDS}),
        )
    except UntrustedSigner as exc:
        if exc.untrusted is not None:
            raise Refused(
                "envelope", f"The signature was made with a key that is not trusted now: {exc.refusal}."
            ) from exc
        ids = ", ".join(key_id[:16] + "…" for key_id in exc.tried) or "none"
        raise Refused(
            "envelope",
            f"The signature does not verify under any trusted key of project '{project.slug}' (keys: {ids}).",
        ) from exc
    except ClaimMismatch as exc:
        raise Refused(exc.field, claim_refusal(exc)) from exc
    except (FormatError, StatementError) as exc:
        raise Refused("envelope", str(exc)) from exc
    return signing_keys[checked.signer.key_id], checked.statement


# The top-level fields of a registration that are conveniences: the signed statement is the truth.
CLAIMED_FIELDS = ("artifact_digest", "source_commit", "repo_url", "ci_build_url")


def claim_refusal(mismatch):
    if mismatch.field == "ci_build_url":
        return (
            f"ci_build_url {mismatch.claimed!r} does not match the signed statement's invocationId "
            f"({mismatch.signed!r})."
        )
    return f"{mismatch.field} {mismatch.claimed!r} does not match the signed statement ({mismatch.signed!r})."


def check_repository(project, parsed):
    """The statement is the evidence: it must name the project's own repository (``same_repository``)."""
    if not same_repository(parsed.source_uri, project.repo_url):
        raise Refused(
            "envelope",
            f"The signed statement names the repository {parsed.source_uri!r}, not the repository of "
            f"project '{project.slug}' ({project.repo_url!r}); they are compared without a leading "
            "'git+', a trailing '/' or a trailing '.git'.",
        )


def register_release(
    project,
    envelope_text=None,
    *,
    version,
    sigstore_bundle=None,
    ci_build_url="",
    token=None,
    user=None,
    **claims,
):
    """Register a signed release: its evidence is a DSSE envelope signed by a project key, or (keyless)
    a Sigstore bundle made in CI by an identity the project trusts. Returns (release, created).

    The identical evidence posted again returns the existing release; the same version with other
    evidence is a conflict: a published release never changes.
    """
    if (envelope_text is None) == (sigstore_bundle is None):
        raise Refused(
            "envelope",
            "Give exactly one of envelope (a DSSE envelope) and sigstore_bundle (a Sigstore bundle).",
        )
    version = check_version(version)
    if sigstore_bundle is not None:
        return register_keyless_release(
            project,
            compact(sigstore_bundle),
            version=version,
            token=token,
            user=user,
            **claims,
            ci_build_url=ci_build_url,
        )
    envelope_text = compact(envelope_text)
    envelope_sha256 = hashlib.sha256(envelope_text.encode()).hexdigest()
    moment = timezone.now()
    signer, parsed = check_evidence(project, envelope_text, moment, {**claims, "ci_build_url": ci_build_url})
    check_repository(project, parsed)
    existing = Release.objects.filter(project=project, version=version).first()
    if existing is not None:
        return same_or_conflict(existing, envelope_text, envelope_sha256)
    try:
        with transaction.atomic():
            release = Release.objects.create(
                project=project,
                version=version,
                source_commit=parsed.source_commit,
                repo_url=parsed.source_uri,
                ci_build_url=parsed.ci_build_url or ci_build_url or "",
                artifact_name=parsed.artifact_name or "",
                artifact_digest=parsed.artifact_digest,
                envelope=envelope_text,
                envelope_sha256=envelope_sha256,
                signer_key=signer,
                **Release.authored_by(token, user),
                registered_at=moment,
            )
            record_components(release, parsed)
            append_or_refuse(
                "release", release_entry_body(release, by=actor(token, user)), object_id=release.pk
            )
    except IntegrityError:
        # A concurrent request registered the same version first.
        existing = Release.objects.get(project=project, version=version)
        return same_or_conflict(existing, envelope_text, envelope_sha256)
    return release, True


def compact(document):
    """Evidence sent as a JSON object is stored as compact JSON; evidence sent as JSON text, as sent."""
    return json.dumps(document, separators=(",", ":")) if isinstance(document, dict) else document


def check_version(version):
    version = (version or "").strip()
    if not version:
        raise Refused("version", "version is required.")
    if len(version) > 100:
        raise Refused("version", "version is longer than 100 characters.")
    if not VERSION_PATTERN.fullmatch(version):
        raise Refused(
            "version",
            f"version {version!r} must start with a letter or digit "
            "and hold only letters, digits and . _ + ~ -.",
        )
    return version


def same_or_conflict(existing, envelope_text, envelope_sha256, *, keyless=False):
    """The existing release when its evidence (envelope, or Sigstore bundle when ``keyless``) is the same
    document, else a 409.

    The same document, not the same bytes: evidence sent as an object is stored as compact JSON, and
    evidence sent as JSON text is stored as sent, so the same document may come back in another layout.
    """
    if keyless:
        stored, stored_sha256, same = (
            existing.sigstore_bundle,
            existing.sigstore_bundle_sha256,
            canonical_json,
        )
    else:
        stored, stored_sha256, same = existing.envelope, existing.envelope_sha256, canonical
    if stored and (stored_sha256 == envelope_sha256 or same(stored) == same(envelope_text)):
        return existing, False
    raise Refused(
        "version",
        f"Release {existing.version} of '{existing.project.slug}' is already registered with other content "
        f"(digest {existing.artifact_digest}); a published release never changes, use a new version.",
        status=409,
    )


def canonical(envelope_text):
    """The envelope as compact JSON with sorted keys: one text for each document, whatever its layout."""
    return dsse.envelope_to_json(jsontext.loads(envelope_text, what="the envelope"))


KEYLESS_TEXT_MEMBERS = ("sigstore_bundle_sha256", "certificate_issuer", "certificate_identity", "source_ref")


def canonical_json(text):
    """A JSON document as compact JSON with sorted keys (a Sigstore bundle's one text)."""
    return json.dumps(jsontext.loads(text, what="the Sigstore bundle"), sort_keys=True, separators=(",", ":"))


def register_keyless_release(
    project, bundle_text, *, version, ci_build_url="", token=None, user=None, **claims
):
    """``register_release`` for a Sigstore bundle: verified offline (``verifier.keyless.verify_keyless``)
    under the CI identities the project trusts now, its certificate's repository the project's, its
    statement holding to the request's claims as a keyed release's does."""
    bundle_bytes = bundle_text.encode()
    bundle_sha256 = keyless.bundle_sha256(bundle_bytes)
    moment = timezone.now()
    evidence = check_keyless_evidence(project, bundle_bytes, moment)
    try:
        statement = keyless.check_keyless_claims(
            evidence,
            Claims(
                **{name: claims.get(name) or None for name in CLAIMED_FIELDS if name != "ci_build_url"},
                ci_build_url=ci_build_url or None,
            ),
        )
    except ClaimMismatch as exc:
        raise Refused(exc.field, claim_refusal(exc)) from exc
    except (FormatError, StatementError, KeylessError) as exc:
        raise Refused("sigstore_bundle", f"The Sigstore bundle is refused: {exc}.") from exc
    existing = Release.objects.filter(project=project, version=version).first()
    if existing is not None:
        return same_or_conflict(existing, bundle_text, bundle_sha256, keyless=True)
    try:
        with transaction.atomic():
            release = Release.objects.create(
                project=project,
                version=version,
                source_commit=statement.source_commit,
                repo_url=evidence.repository,
                ci_build_url=evidence.run_url or statement.ci_build_url or ci_build_url or "",
                artifact_name=statement.artifact_name or "",
                artifact_digest=statement.artifact_digest,
                sigstore_bundle=bundle_text,
                sigstore_bundle_sha256=bundle_sha256,
                certificate_issuer=evidence.issuer,
                certificate_identity=evidence.signer,
                source_ref=evidence.ref,
                sigstore_log_index=evidence.log_index,
                **Release.authored_by(token, user),
                registered_at=moment,
            )
            record_components(release, statement)
            append_or_refuse(
                "release", release_entry_body(release, by=actor(token, user)), object_id=release.pk
            )
    except IntegrityError:
        existing = Release.objects.get(project=project, version=version)
        return same_or_conflict(existing, bundle_text, bundle_sha256, keyless=True)
    return release, True


def check_keyless_evidence(project, bundle_bytes, moment):
    """The bundle verified under one of the project's identities trusted at ``moment``, its certificate
    issued to a run of the project's own repository; ``Refused`` naming why not."""
    identities = [identity for identity in project.identities.all() if identity.is_trusted_at(moment)]
    if not identities:
        raise Refused(
            "sigstore_bundle",
            f"Project '{project.slug}' trusts no CI identity, so it cannot accept a keyless release (a "
            f"Sigstore bundle). An operator adds one in the admin or with: manage.py addidentity "
            f"{project.slug} --issuer URL --repository URL [--workflow PATTERN] [--ref PATTERN].",
        )
    try:
        evidence = keyless.verify_keyless(
            bundle_bytes, [identity.identity() for identity in identities], trust_root=sigstore_trust_root()
        )
    except KeylessError as exc:
        raise Refused("sigstore_bundle", f"The Sigstore bundle is refused: {exc}.") from exc
    if not same_repository(evidence.repository, project.repo_url):
        raise Refused(
            "sigstore_bundle",
            f"The Sigstore bundle's certificate was issued to a run of {evidence.repository!r}, not of the "
            f"repository of project '{project.slug}' ({project.repo_url!r}).",
        )
    return evidence


def sigstore_trust_root():
    """The operator's ``trusted_root.json`` (``VITRINA_SIGSTORE_TRUST_ROOT``), or None: the public-good
    root the ``sigstore`` library embeds."""
    path = settings.VITRINA_SIGSTORE_TRUST_ROOT
    return Path(path).read_bytes() if path else None


def record_components(release, statement):
    """The components of a release of several, as its signed statement names them, in its order; a
    one-artifact release has none. Called inside the release's transaction, before its log entry."""
    ReleaseComponent.objects.bulk_create(
        ReleaseComponent(
            release=release,
            position=position,
            name=subject.name,
            sha256=subject.digests.get("sha256", ""),
            sha512=subject.digests.get("sha512", ""),
        )
        for position, subject in enumerate(statement.components)
    )


def release_components(release):
    """The release's components as its log entry and its signed statement spell them, in order."""
    return [component.to_json() for component in release.components.all()]


def release_entry_body(release, *, by=None):
    ids = {
        "release_id": release.pk,
        "signer_key_id": release.signer_key.key_id if release.signer_key_id else None,
        "envelope_sha256": release.envelope_sha256 or None,
        # A keyed release's keyless members are empty, so left out of its entry.
        **{name: getattr(release, name) or None for name in KEYLESS_TEXT_MEMBERS},
        # A one-artifact release has no components, so its entry is as it always was.
        "components": release_components(release) or None,
    }
    return row_entry_body("release", release, by=by, project=release.project.slug, **ids)


# --- deployments ----------------------------------------------------------------------------------


def find_release(project, ref):
    """A release by version, or by artifact digest when ``ref`` starts with ``sha256:``."""
    ref = (ref or "").strip()
    if not ref:
        raise Refused("release", "release is required (a version or a sha256: digest).")
    if ref.startswith("sha256:"):
        from verifier.digest import parse_digest

        try:
            parse_digest(ref)
        except FormatError as exc:
            raise Refused("release", str(exc)) from exc
        release = (
            Release.objects.filter(project=project, artifact_digest=ref).order_by("-registered_at").first()
        )
    else:
        release = Release.objects.filter(project=project, version=ref).first()
    if release is None:
        raise Refused("release", f"Project '{project.slug}' has no release {ref!r}.", status=404)
    return release


def record_deployment(environment, release, *, pipeline_run_url="", deployed_at=None, token=None, user=None):
    """Record that ``release`` now runs in ``environment``; returns the deployment."""
    if release.project_id != environment.project_id:
        raise Refused("release", f"Release {release.version} belongs to another project.")
    now = timezone.now()
    deployed_at = deployed_at or now
    if deployed_at > now:
        raise Refused("deployed_at", "deployed_at is in the future.")
    if deployed_at < EARLIEST_DEPLOYMENT:
        raise Refused(
            "deployed_at", f"deployed_at is before {EARLIEST_DEPLOYMENT:%Y-%m-%d}: it cannot be right."
        )
    with transaction.atomic():
        deployment = Deployment.objects.create(
            environment=environment,
            release=release,
            deployed_at=deployed_at,
            pipeline_run_url=pipeline_run_url or "",
            **Deployment.authored_by(token, user),
            registered_at=now,
        )
        append_or_refuse(
            "deployment", deployment_entry_body(deployment, by=actor(token, user)), object_id=deployment.pk
        )
        # The new deployment is what the next check must compare against: check it soon.
        Environment.objects.filter(pk=environment.pk).update(next_check_at=now)
    return deployment


def deployment_entry_body(deployment, *, by=None):
    release, environment = deployment.release, deployment.environment
    return row_entry_body(
        "deployment",
        deployment,
        by=by,
        project=environment.project.slug,
        environment=environment.name,
        deployment_id=deployment.pk,
        release_id=release.pk,
        version=release.version,
        artifact_digest=release.artifact_digest,
    )


# --- public notes on a status ----------------------------------------------------------------------

# A note may say it started a little before it was posted (clocks differ, a form takes time to fill in);
# any earlier and it would rewrite what the pages said then.
NOTE_START_SKEW = datetime.timedelta(minutes=5)


def post_note(project, *, kind, text, environment=None, starts_at=None, ends_at=None, token=None, user=None):
    """Attach the operator's public note to ``environment`` (or, when None, to every environment of
    ``project``) and log it; returns the note.

    A note is never edited or deleted: a newer one replaces it on the pages (``models.current_notes``).
    """
    if environment is not None and environment.project_id != project.pk:
        raise Refused("environment", f"Environment '{environment.name}' belongs to another project.")
    if kind not in StatusNote.Kind.values:
        raise Refused("kind", f"kind {kind!r} must be one of: {', '.join(StatusNote.Kind.values)}.")
    text = check_note_text(text)
    now = timezone.now()
    starts_at = starts_at or now
    if starts_at < now - NOTE_START_SKEW:
        raise Refused(
            "starts_at",
            "starts_at is in the past: a note cannot say after the fact what the pages said then.",
        )
    if ends_at is not None and ends_at <= max(starts_at, now):
        raise Refused("ends_at", "ends_at must come after starts_at and after now.")
    with transaction.atomic():
        note = StatusNote.objects.create(
            project=project,
            environment=environment,
            kind=kind,
            text=text,
            starts_at=starts_at,
            ends_at=ends_at,
            **StatusNote.authored_by(token, user),
            registered_at=now,
        )
        append_or_refuse("note", note_entry_body(note, by=actor(token, user)), object_id=note.pk)
    return note


def check_note_text(text, *, limit=NOTE_MAX_LENGTH, holds="a note"):
    """The text of a note (or of another public statement an operator ``holds``), trimmed: one line of
    plain text, at most ``limit`` characters."""
    text = (text or "").strip()
    if not text:
        raise Refused("text", "text is required: what the operator tells the public.")
    if len(text) > limit:
        raise Refused("text", f"text is {len(text)} characters long; {holds} holds at most {limit}.")
    if any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in text):
        raise Refused("text", "text must be one line of plain text, without control or format characters.")
    return text


def note_entry_body(note, *, by=None):
    environment = note.environment.name if note.environment_id else None
    return row_entry_body(
        "note", note, by=by, project=note.project.slug, environment=environment, note_id=note.pk
    )


# --- independent parties: observers and rebuilders -------------------------------------------------
# An observer and a rebuilder are registered, authenticated and removed alike (``RegisteredParty``); each
# kind's entries are ``<kind>_added`` and ``<kind>_removed``, its id member ``<kind>_id``.


def party_kind(party_model):
    """The kind of party a model holds, as its entry types spell it: ``observer`` or ``rebuilder``."""
    return party_model._meta.model_name


@transaction.atomic
def add_party(party_model, name, pem, *, user=None):
    """Register an independent party (``Observer`` or ``Rebuilder``) by its public name and public key;
    returns ``(party, token)``.

    The token (the model's ``TOKEN_PREFIX`` and 32 random bytes) is returned this once: only its SHA-256 is
    stored. A name or a key already registered to a party of this kind (even one since removed) is
    refused, so one party never counts twice.
    """
    kind = party_kind(party_model)
    name = (name or "").strip()
    if not name or len(name) > party_model._meta.get_field("name").max_length:
        raise Refused("name", "name is required: at most 100 characters, shown to the public.")
    if any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in name):
        raise Refused("name", "name must be one line of plain text, without control or format characters.")
    try:
        key = load_public_key(pem)
    except FormatError as exc:
        raise Refused("public_key_pem", str(exc)) from exc
    if party_model.objects.filter(name=name).exists():
        raise Refused("name", f"There is already {article(kind)} {kind} named '{name}'.", status=409)
    holder = party_model.objects.filter(key_id=key.key_id).first()
    if holder is not None:
        raise Refused("public_key_pem", f"This key is already the key of {kind} '{holder.name}'.", status=409)
    raw = party_model.TOKEN_PREFIX + secrets.token_urlsafe(32)
    party = party_model.objects.create(
        name=name,
        public_key_pem=key.pem,
        algorithm=key.algorithm,
        key_id=key.key_id,
        token_hash=party_token_hash(raw),
        added_at=timezone.now(),
    )
    append_or_refuse(f"{kind}_added", party_added_entry_body(party, by=actor(user=user)), object_id=party.pk)
    return party, raw


def article(noun):
    return "an" if noun[:1] in "aeiou" else "a"


def party_token_hash(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def party_added_entry_body(party, *, by=None):
    kind = party_kind(type(party))
    return row_entry_body(f"{kind}_added", party, by=by, **{f"{kind}_id": party.pk})


@transaction.atomic
def remove_party(party, *, at=None, user=None):
    """Stop accepting ``party``'s statements from ``at`` (default now); those it posted before stay."""
    party = type(party).objects.select_for_update().get(pk=party.pk)
    if party.removed_at is not None:
        return party
    party.removed_at = at or timezone.now()
    party.save(update_fields=["removed_at"])
    kind = party_kind(type(party))
    append_or_refuse(
        f"{kind}_removed", party_removed_entry_body(party, by=actor(user=user)), object_id=party.pk
    )
    return party


def party_removed_entry_body(party, *, by=None):
    kind = party_kind(type(party))
    return row_entry_body(f"{kind}_removed", party, by=by, **{f"{kind}_id": party.pk})


def authenticate_party(party_model, raw):
    """The ``party_model`` party whose token is ``raw``, if it is a token of that kind (its prefix) of a
    party active now; None otherwise."""
    if not isinstance(raw, str) or not raw.startswith(party_model.TOKEN_PREFIX):
        return None
    party = party_model.objects.filter(token_hash=party_token_hash(raw)).first()
    return party if party is not None and party.is_active_at(timezone.now()) else None


def add_observer(name, pem, *, user=None):
    """``add_party`` for an independent observer (token ``vto_…``)."""
    return add_party(Observer, name, pem, user=user)


def remove_observer(observer, *, at=None, user=None):
    return remove_party(observer, at=at, user=user)


def authenticate_observer(raw):
    return authenticate_party(Observer, raw)


def add_rebuilder(name, pem, *, user=None):
    """``add_party`` for an independent rebuilder (token ``vtb_…``)."""
    return add_party(Rebuilder, name, pem, user=user)


def remove_rebuilder(rebuilder, *, at=None, user=None):
    return remove_party(rebuilder, at=at, user=user)


def authenticate_rebuilder(raw):
    return authenticate_party(Rebuilder, raw)


# --- independent observers ------------------------------------------------------------------------

# An observation is one statement with a capped message and at most 20 served-file problems: far below.
OBSERVER_REPORT_MAX_BYTES = 256 * 1024
# An observer's clock may run a little ahead; a report older than an hour says nothing about now.
OBSERVATION_MAX_AHEAD = datetime.timedelta(minutes=10)
OBSERVATION_MAX_AGE = datetime.timedelta(hours=1)


def record_observer_report(observer, envelope_text, *, now=None):
    """Verify an observation (``verifier.observation``) signed by ``observer`` and record it with its log
    entry, in one transaction; returns the report, ``created`` False when this very envelope was already
    recorded (a retry), and True otherwise.

    Refused: an envelope over ``OBSERVER_REPORT_MAX_BYTES`` (413), an observer removed by ``now`` or a
    statement signed for another observer's name (403), an unknown project or environment (404), and
    (400) a malformed envelope or observation, a signature that does not verify under the observer's
    key, an ``observed_at`` more than ``OBSERVATION_MAX_AHEAD`` ahead of ``now`` or more than
    ``OBSERVATION_MAX_AGE`` before it, and a deployment that is not the environment's or is not the
    release and digest the statement says.
    """
    now = now or timezone.now()
    envelope_text = check_report_size(compact(envelope_text))
    observer = Observer.objects.get(pk=observer.pk)  # as it is now: removed since it was read, say
    if not observer.is_active_at(now):
        raise Refused(
            None, f"Observer '{observer.name}' is removed: its reports are no longer accepted.", status=403
        )
    observed = verify_party_envelope(observer, envelope_text, observation.verify_observation)
    if observed.observer != observer.name:
        raise Refused(
            "envelope",
            f"The observation is signed for observer '{observed.observer}', but this token is observer "
            f"'{observer.name}'s.",
            status=403,
        )
    environment = get_environment(get_project(observed.project), observed.environment)
    check_observed_at(observed.observed_at, now)
    deployment = observed_deployment(environment, observed)
    # Stored in one spelling, so the same envelope posted again (as an object, or as text laid out
    # otherwise) is found again; the signature covers the payload, never the layout.
    envelope_text = canonical(envelope_text)
    envelope_sha256 = hashlib.sha256(envelope_text.encode()).hexdigest()
    with transaction.atomic():
        existing = ObserverReport.objects.filter(observer=observer, envelope_sha256=envelope_sha256).first()
        if existing is not None:
            existing.created = False
            return existing
        served = observed.served_files
        report = ObserverReport.objects.create(
            observer=observer,
            environment=environment,
            deployment=deployment,
            observed_at=observed.observed_at,
            received_at=now,
            result=observed.result,
            reason=observed.reason or "",
            message=observed.message,
            live_digest=observed.live_digest or "",
            expected_digest=observed.expected_digest,
            served_files_checked=served.checked if served else None,
            served_files_matched=served.matched if served else None,
            envelope=envelope_text,
            envelope_sha256=envelope_sha256,
        )
        append_or_refuse("observer_report", observer_report_entry_body(report), object_id=report.pk)
    report.created = True
    return report


def check_report_size(envelope_text, *, holds="an observer report", limit=OBSERVER_REPORT_MAX_BYTES):
    """The envelope as text, refused unless it is a string of at most ``limit`` bytes in UTF-8 (413)."""
    if not isinstance(envelope_text, str):
        raise Refused("envelope", "envelope must be a DSSE envelope: a JSON object or its JSON text.")
    try:
        size = len(jsontext.utf8_bytes(envelope_text, what="the envelope"))
    except FormatError as exc:
        raise Refused("envelope", str(exc)) from exc
    if size > limit:
        raise Refused(
            "envelope",
            f"The envelope is {size} bytes; {holds} holds at most {limit} bytes ({limit // 1024} KiB).",
            status=413,
        )
    return envelope_text


def verify_party_envelope(party, envelope_text, verify):
    """``verify(envelope_text, public key)`` (``verifier.observation.verify_observation``,
    ``verifier.rebuilds.verify_rebuild``) under ``party``'s registered key, its errors as ``Refused``."""
    try:
        return verify(envelope_text, load_public_key(party.public_key_pem))
    except SignatureError as exc:
        raise Refused(
            "envelope",
            f"The signature does not verify under {party_kind(type(party))} '{party.name}'s key "
            f"({party.short_id}…).",
        ) from exc
    except (FormatError, StatementError) as exc:
        raise Refused("envelope", f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from exc


def check_observed_at(observed_at, now):
    if observed_at > now + OBSERVATION_MAX_AHEAD:
        raise Refused(
            "envelope",
            f"observed_at ({entries.format_time(observed_at)}) is more than 10 minutes ahead of the portal's "
            f"clock ({entries.format_time(now)}); check the observer's clock.",
        )
    if observed_at < now - OBSERVATION_MAX_AGE:
        raise Refused(
            "envelope",
            f"observed_at ({entries.format_time(observed_at)}) is more than an hour before the portal's "
            f"clock ({entries.format_time(now)}): post observations as they are made.",
        )


def observed_deployment(environment, observed):
    """The deployment the observation compared with (None: it saw none), which must be one of the
    environment's, of the release and digest the observation names."""
    if observed.deployment_id is None:
        return None
    deployment = (
        Deployment.objects.select_related("release")
        .filter(pk=observed.deployment_id, environment=environment)
        .first()
    )
    if deployment is None:
        raise Refused(
            "envelope",
            f"deployment_id {observed.deployment_id} is not a deployment of {environment.project.slug}/"
            f"{environment.name}.",
        )
    release = deployment.release
    if (observed.release_id, observed.expected_digest) != (release.pk, release.artifact_digest):
        raise Refused(
            "envelope",
            f"Deployment {deployment.pk} is of release {release.pk} ({release.artifact_digest}), not release "
            f"{observed.release_id} ({observed.expected_digest}) as the observation says.",
        )
    return deployment


def observer_report_entry_body(report):
    environment, observer = report.environment, report.observer
    return row_entry_body(
        "observer_report",
        report,
        project=environment.project.slug,
        environment=environment.name,
        report_id=report.pk,
        observer=observer.name,
        observer_key_id=observer.key_id,
    )


# --- independent rebuilders -----------------------------------------------------------------------

# A rebuild attestation is one statement with at most 64 subjects: far below.
REBUILD_MAX_BYTES = 256 * 1024
# A rebuilder's clock may run a little ahead, as an observer's may.
REBUILD_MAX_AHEAD = datetime.timedelta(minutes=10)


def record_rebuild(rebuilder, envelope_text, *, now=None):
    """Verify a rebuild attestation (``verifier.rebuilds``) signed by ``rebuilder``, compare what it got
    with the release's signed subjects (``compare_rebuild``) and record it with its log entry, in one
    transaction; returns the rebuild, with ``differences`` (name, the release's, the rebuilder's).

    Refused: an envelope over ``REBUILD_MAX_BYTES`` (413); a rebuilder removed by ``now`` or an
    attestation signed for another rebuilder's name (403); an unknown project or release (404); the same
    envelope, or another with the same ``invocationId`` for the same release, already recorded: a replay
    (409); and (400) a malformed envelope or attestation, a signature that does not verify under the
    rebuilder's key, a release link whose version or artifact digest is not the release's, a repository
    or commit other than the release's, subjects the release does not have or lacking some of its own,
    and a ``rebuilt_at`` (its ``finishedOn``) more than ``REBUILD_MAX_AHEAD`` ahead of ``now`` or before
    the release was registered.
    """
    now = now or timezone.now()
    envelope_text = check_report_size(
        compact(envelope_text), holds="a rebuild attestation", limit=REBUILD_MAX_BYTES
    )
    rebuilder = Rebuilder.objects.get(pk=rebuilder.pk)  # as it is now: removed since it was read, say
    if not rebuilder.is_active_at(now):
        raise Refused(
            None, f"Rebuilder '{rebuilder.name}' is removed: its rebuilds are no longer accepted.", status=403
        )
    rebuilt = verify_party_envelope(rebuilder, envelope_text, rebuilds.verify_rebuild)
    if rebuilt.rebuilder != rebuilder.name:
        raise Refused(
            "envelope",
            f"The rebuild is signed for rebuilder '{rebuilt.rebuilder}', but this token is rebuilder "
            f"'{rebuilder.name}'s.",
            status=403,
        )
    release = rebuilt_release(rebuilt)
    check_rebuilt_source(release, rebuilt)
    check_rebuilt_at(release, rebuilt.finished_on, now)
    try:
        comparison = rebuilds.compare_rebuild(release_statement(release).subjects, rebuilt)
    except StatementError as exc:
        raise Refused("envelope", f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from exc
    envelope_text = canonical(envelope_text)  # one spelling, so the same envelope is found again
    envelope_sha256 = hashlib.sha256(envelope_text.encode()).hexdigest()
    with transaction.atomic():
        # One rebuild of a rebuilder at a time, so that two copies of one envelope never both pass.
        Rebuilder.objects.select_for_update().filter(pk=rebuilder.pk).first()
        check_not_replayed(rebuilder, release, rebuilt, envelope_sha256)
        rebuild = Rebuild.objects.create(
            rebuilder=rebuilder,
            release=release,
            rebuilt_at=rebuilt.finished_on,
            received_at=now,
            result=comparison.result,
            subjects=[subject.to_json() for subject in rebuilt.subjects],
            envelope=envelope_text,
            envelope_sha256=envelope_sha256,
        )
        append_or_refuse("rebuild", rebuild_entry_body(rebuild), object_id=rebuild.pk)
    rebuild.differences = comparison.differences
    return rebuild


def rebuilt_release(rebuilt):
    """The release the attestation names: its project, id, version and artifact digest must all agree."""
    project = get_project(rebuilt.project)
    release = Release.objects.select_related("project").filter(project=project, pk=rebuilt.release_id).first()
    if release is None:
        raise Refused(
            "envelope", f"Project '{project.slug}' has no release {rebuilt.release_id}.", status=404
        )
    try:
        rebuilds.check_release_link(
            rebuilt,
            project=project.slug,
            version=release.version,
            release_id=release.pk,
            artifact_digest=release.artifact_digest,
        )
    except StatementError as exc:
        raise Refused("envelope", f"{str(exc)[:1].upper()}{str(exc)[1:]}.") from exc
    return release


def check_rebuilt_source(release, rebuilt):
    """A rebuild is of the release's own commit of its own repository."""
    if rebuilt.commit != release.source_commit:
        raise Refused(
            "envelope",
            f"The rebuild is of commit {rebuilt.commit}, but release {release.version} was built from "
            f"{release.source_commit}.",
        )
    if not same_repository(rebuilt.repository, release.repo_url):
        raise Refused(
            "envelope",
            f"The rebuild is of repository {rebuilt.repository!r}, but release {release.version} was built "
            f"from {release.repo_url!r}.",
        )


def check_rebuilt_at(release, rebuilt_at, now):
    if rebuilt_at > now + REBUILD_MAX_AHEAD:
        raise Refused(
            "envelope",
            f"finishedOn ({entries.format_time(rebuilt_at)}) is more than 10 minutes ahead of the portal's "
            f"clock ({entries.format_time(now)}); check the rebuilder's clock.",
        )
    if rebuilt_at < release.registered_at:
        raise Refused(
            "envelope",
            f"finishedOn ({entries.format_time(rebuilt_at)}) is before release {release.version} was "
            f"registered ({entries.format_time(release.registered_at)}): a rebuild comes after its release.",
        )


def release_statement(release):
    """The statement the release's evidence signs (an envelope, or a Sigstore bundle's). Its signature was
    checked when the release was registered; the self-audit holds the stored text to its logged hash."""
    envelope = json.loads(release.sigstore_bundle)["dsseEnvelope"] if release.is_keyless else release.envelope
    return parse_statement(dsse.parse_envelope(envelope).payload)


def check_not_replayed(rebuilder, release, rebuilt, envelope_sha256):
    """A 409 when ``rebuilder`` already posted this envelope, or this run (its ``invocationId``) of
    ``release``: a rebuild counts once. Run inside the transaction that records it."""
    earlier = Rebuild.objects.filter(rebuilder=rebuilder)
    replayed = earlier.filter(envelope_sha256=envelope_sha256).first()
    if replayed is None:
        # The invocation id is not a column: it is read back from the few envelopes of this release.
        replayed = next(
            (
                rebuild
                for rebuild in earlier.filter(release=release).only("pk", "envelope")
                if invocation_id(rebuild.envelope) == rebuilt.invocation_id
            ),
            None,
        )
    if replayed is not None:
        raise Refused(
            "envelope",
            f"This rebuild is already recorded (rebuild {replayed.pk}, invocationId "
            f"{rebuilt.invocation_id!r}): each run of a rebuilder is posted once.",
            status=409,
        )


def invocation_id(envelope_text):
    """The ``invocationId`` of a stored attestation (None if it no longer reads: the self-audit says so)."""
    try:
        return rebuilds.parse_rebuild(dsse.parse_envelope(envelope_text).payload).invocation_id
    except VerifierError:
        return None


def rebuild_entry_body(rebuild):
    release, rebuilder = rebuild.release, rebuild.rebuilder
    return row_entry_body(
        "rebuild",
        rebuild,
        project=release.project.slug,
        release_id=release.pk,
        version=release.version,
        rebuild_id=rebuild.pk,
        rebuilder=rebuilder.name,
        rebuilder_key_id=rebuilder.key_id,
    )


def answer_rebuild(rebuild, text, *, token=None, user=None):
    """Record an operator's public answer to a rebuild that got something else, with its log entry; a
    CI token must be of the release's project. Returns the answer.

    Refused: a token of another project (403), a rebuild that reproduced the release (400, there is
    nothing to answer), one already answered (409: an answer is given once, never edited), and a text
    that is empty, longer than the answer holds or not one line of plain text (400).
    """
    project = rebuild.release.project
    if token is not None:
        check_token_scope(token, project)
    if rebuild.result != Rebuild.Result.DIFFERS:
        raise Refused(
            "rebuild",
            f"Rebuild {rebuild.pk} reproduced release {rebuild.release.version}: only a rebuild that got "
            "something else is answered.",
        )
    text = check_note_text(
        text, limit=RebuildAnswer._meta.get_field("text").max_length, holds="an answer to a rebuild"
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            answer = RebuildAnswer.objects.create(
                rebuild=rebuild, text=text, **RebuildAnswer.authored_by(token, user), registered_at=now
            )
            append_or_refuse(
                "rebuild_answer",
                rebuild_answer_entry_body(answer, by=actor(token, user)),
                object_id=answer.pk,
            )
    except IntegrityError:
        raise Refused(
            "rebuild", f"Rebuild {rebuild.pk} is already answered: an answer is given once.", status=409
        ) from None
    return answer


def rebuild_answer_entry_body(answer, *, by=None):
    rebuild = answer.rebuild
    return row_entry_body(
        "rebuild_answer",
        answer,
        by=by,
        project=rebuild.release.project.slug,
        release_id=rebuild.release_id,
        rebuild_id=rebuild.pk,
        answer_id=answer.pk,
        answered_at=answer.registered_at,
    )


# --- lookups used by the API and the commands ------------------------------------------------------


def get_project(slug):
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Refused("project", f"There is no project '{slug}'.", status=404)
    return project


def get_environment(project, name):
    environment = Environment.objects.filter(project=project, name=name).first()
    if environment is None:
        raise Refused("environment", f"Project '{project.slug}' has no environment '{name}'.", status=404)
    return environment


def check_token_scope(token, project):
    if token.project_id != project.pk:
        raise Refused("project", f"This token is not allowed to register for project '{project.slug}'.", 403)


__all__ = [
    "Refused",
    "add_identity",
    "add_observer",
    "add_party",
    "add_rebuilder",
    "answer_rebuild",
    "authenticate_observer",
    "authenticate_party",
    "authenticate_rebuilder",
    "add_signing_key",
    "check_token_scope",
    "find_release",
    "get_environment",
    "get_project",
    "post_note",
    "record_deployment",
    "record_observer_report",
    "record_rebuild",
    "register_release",
    "remove_identity",
    "remove_observer",
    "remove_party",
    "remove_rebuilder",
    "revoke_signing_key",
]
