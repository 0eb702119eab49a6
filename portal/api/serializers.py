"""What the API accepts and what it answers.

Input serializers check the shape of a request and answer with field-level errors; the registration
rules themselves (signatures, trusted keys, agreement with the signed statement, conflicts) live in
``portal.registry.services``, shared with the admin and the management commands.
"""

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from portal.monitoring.layers import tally_rebuilds
from portal.monitoring.models import Light, public_state, status_of
from portal.registry.models import COMMIT_VALIDATOR, NOTE_MAX_LENGTH, RebuildAnswer, StatusNote
from verifier.digest import parse_digest
from verifier.errors import FormatError


def digest_field(**kwargs):
    return serializers.CharField(max_length=71, help_text="sha256: followed by 64 lowercase hex.", **kwargs)


def check_digest(value):
    try:
        parse_digest(value)
    except FormatError as exc:
        message = str(exc)
        raise serializers.ValidationError(f"{message[:1].upper()}{message[1:]}.") from exc
    return value


# --- input ----------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "object",
                "description": "A DSSE v1 envelope.",
                "properties": {
                    "payloadType": {"type": "string", "example": "application/vnd.in-toto+json"},
                    "payload": {"type": "string", "description": "base64 of the in-toto Statement v1"},
                    "signatures": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"keyid": {"type": "string"}, "sig": {"type": "string"}},
                            "required": ["sig"],
                        },
                    },
                },
                "required": ["payloadType", "payload", "signatures"],
            },
            {"type": "string", "description": "The same envelope as JSON text."},
        ]
    }
)
class EnvelopeField(serializers.JSONField):
    """A DSSE envelope, as an object or as its JSON text (what ``cosign attest-blob`` writes to a file)."""

    def to_internal_value(self, data):
        if isinstance(data, dict | str):
            return data
        raise serializers.ValidationError("Expected a DSSE envelope: a JSON object or its JSON text.")


@extend_schema_field(
    {
        "type": "object",
        "description": "A Sigstore bundle (v0.1 to v0.3) over an in-toto Statement v1, as "
        "actions/attest-build-provenance or cosign attest --bundle write it.",
        "properties": {
            "mediaType": {"type": "string", "example": "application/vnd.dev.sigstore.bundle.v0.3+json"},
            "verificationMaterial": {"type": "object"},
            "dsseEnvelope": {"type": "object"},
        },
        "required": ["mediaType", "verificationMaterial", "dsseEnvelope"],
    }
)
class SigstoreBundleField(serializers.JSONField):
    """A Sigstore bundle, as an object or as its JSON text (the file CI's attestation step wrote)."""

    def to_internal_value(self, data):
        if isinstance(data, dict | str):
            return data
        raise serializers.ValidationError("Expected a Sigstore bundle: a JSON object or its JSON text.")


class ReleaseCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(
        max_length=50, required=False, help_text="The project's slug; defaults to the token's project."
    )
    envelope = EnvelopeField(
        required=False,
        help_text="The DSSE envelope signed by CI with a project key over an in-toto Statement v1. "
        "Exactly one of envelope and sigstore_bundle.",
    )
    sigstore_bundle = SigstoreBundleField(
        required=False,
        help_text="Keyless: a Sigstore bundle made in CI, whose certificate must match one of the "
        "project's trusted CI identities. Exactly one of envelope and sigstore_bundle.",
    )
    version = serializers.CharField(max_length=100)
    ci_build_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    artifact_digest = digest_field(required=False, allow_blank=True)
    source_commit = serializers.CharField(
        max_length=64, required=False, allow_blank=True, validators=[COMMIT_VALIDATOR]
    )
    repo_url = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate_artifact_digest(self, value):
        return check_digest(value) if value else value

    ONE_EVIDENCE = "Give exactly one of envelope (a DSSE envelope) and sigstore_bundle (a Sigstore bundle)."

    def to_internal_value(self, data):
        """The fields' own errors, and with them the missing evidence, so that one answer names every
        field to fix (DRF runs ``validate`` only once every field is valid)."""
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            missing = isinstance(data, dict) and not ("envelope" in data or "sigstore_bundle" in data)
            if missing and isinstance(exc.detail, dict):
                evidence = [ErrorDetail(self.ONE_EVIDENCE, code="required")]
                raise serializers.ValidationError({"envelope": evidence, **exc.detail}) from None
            raise

    def validate(self, attrs):
        if ("envelope" in attrs) == ("sigstore_bundle" in attrs):
            raise serializers.ValidationError({"envelope": self.ONE_EVIDENCE})
        return attrs


class DeploymentCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(
        max_length=50, required=False, help_text="The project's slug; defaults to the token's project."
    )
    environment = serializers.SlugField(max_length=50)
    release = serializers.CharField(max_length=100, help_text="A version, or a sha256: artifact digest.")
    pipeline_run_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    deployed_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601, when it happened: defaults to now, never in the future."
    )

    def validate_release(self, value):
        return check_digest(value) if value.startswith("sha256:") else value


class NoteCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(
        max_length=50, required=False, help_text="The project's slug; defaults to the token's project."
    )
    environment = serializers.SlugField(
        max_length=50, required=False, allow_null=True, help_text="Omit or null: every environment."
    )
    kind = serializers.ChoiceField(choices=StatusNote.Kind.values)
    text = serializers.CharField(
        max_length=NOTE_MAX_LENGTH,
        trim_whitespace=False,
        help_text="Plain text, one line, shown to the public as written, in the language written.",
    )
    starts_at = serializers.DateTimeField(required=False, help_text="ISO 8601; defaults to now.")
    ends_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="ISO 8601; omit or null: until a newer note."
    )


class ObserverReportCreateSerializer(serializers.Serializer):
    envelope = EnvelopeField(
        help_text="The observation (docs/formats/observation.md): an in-toto Statement v1 in a DSSE "
        "envelope signed with the observer's registered key, as `vitrina-verify observe --publish` posts it."
    )


class RebuildCreateSerializer(serializers.Serializer):
    envelope = EnvelopeField(
        help_text="The rebuild attestation (docs/formats/rebuild.md): an in-toto Statement v1 in a DSSE "
        "envelope signed with the rebuilder's registered key, as `vitrina-verify rebuild --publish` posts it."
    )


class RebuildAnswerCreateSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=RebuildAnswer._meta.get_field("text").max_length,
        trim_whitespace=False,
        help_text="Plain text, one line, shown to the public beside the rebuild exactly as written: why the "
        "project stands by its release although this rebuild got other bytes.",
    )


# --- output ---------------------------------------------------------------------------------------


def text_fields(*names):
    """A serializer base whose fields are ``names``, in that order, each the object's attribute of that
    name as text; a subclass's own fields follow them."""
    return type("TextFields", (serializers.Serializer,), {name: serializers.CharField() for name in names})


@extend_schema_field(OpenApiTypes.STR)
class PageField(serializers.Field):
    """The absolute URL of the object's public page (its ``get_absolute_url``)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value):
        return self.context["request"].build_absolute_uri(value.get_absolute_url())


@extend_schema_field(OpenApiTypes.STR)
class BundleField(serializers.Field):
    """Where the proof bundle of a release is served, as a path."""

    def __init__(self):
        super().__init__(source="*", read_only=True, help_text="The release's proof bundle.")

    def to_representation(self, value):
        return f"/api/v1/releases/{value.pk}/bundle"


class ReleaseCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    version = serializers.CharField()
    artifact_digest = serializers.CharField()
    source_commit = serializers.CharField()
    url = PageField(help_text="The release's public page.")
    bundle_url = BundleField()
    log_index = serializers.IntegerField(allow_null=True, help_text="Its index in the transparency log.")


class DeploymentCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="environment.project.slug")
    environment = serializers.CharField(source="environment.name")
    release = serializers.CharField(source="release.version")
    artifact_digest = serializers.CharField(source="release.artifact_digest")
    deployed_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True)
    url = PageField(help_text="The deployment's public page.")


class NoteCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    environment = serializers.CharField(source="environment.name", allow_null=True)
    kind = serializers.CharField()
    text = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    log_index = serializers.IntegerField(allow_null=True)
    url = PageField(help_text="The page the note is shown on.")


class ObserverReportCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    observer = serializers.CharField(source="observer.name")
    project = serializers.CharField(source="environment.project.slug")
    environment = serializers.CharField(source="environment.name")
    deployment_id = serializers.IntegerField(allow_null=True)
    observed_at = serializers.DateTimeField()
    result = serializers.CharField()
    reason = serializers.CharField(help_text="A reason code, or empty for a plain verified.")
    log_index = serializers.IntegerField(allow_null=True, help_text="Its index in the transparency log.")
    bundle_url = serializers.SerializerMethodField(help_text="The report's proof bundle.")

    def get_bundle_url(self, report) -> str:
        return f"/api/v1/observer-reports/{report.pk}/bundle"


class PartySerializer(serializers.Serializer):
    """An independent observer or rebuilder, as registered."""

    name = serializers.CharField()
    key_id = serializers.CharField(
        help_text="The lowercase hex sha256 of the key's DER SubjectPublicKeyInfo."
    )
    algorithm = serializers.CharField(help_text="`ed25519` or `ecdsa-p256`.")
    public_key_pem = serializers.CharField()
    added_at = serializers.DateTimeField()
    removed_at = serializers.DateTimeField(
        allow_null=True, help_text="null while its signed statements are accepted."
    )


class SubjectDifferenceSerializer(serializers.Serializer):
    name = serializers.CharField()
    expected = serializers.CharField(help_text="The release's digest, `<algorithm>:<hex>`.")
    got = serializers.CharField(help_text="What the rebuilder got, in the same algorithm.")


class RebuildCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rebuilder = serializers.CharField(source="rebuilder.name")
    project = serializers.CharField(source="release.project.slug")
    version = serializers.CharField(source="release.version")
    release_id = serializers.IntegerField()
    rebuilt_at = serializers.DateTimeField()
    result = serializers.CharField(
        help_text="`reproduced` or `differs`: the portal's comparison with the release's subjects."
    )
    differences = serializers.SerializerMethodField(help_text="Each subject it got otherwise; empty if none.")
    log_index = serializers.IntegerField(allow_null=True, help_text="Its index in the transparency log.")
    bundle_url = serializers.SerializerMethodField(
        help_text="The release's proof bundle, which carries its rebuilds."
    )

    @extend_schema_field(SubjectDifferenceSerializer(many=True))
    def get_differences(self, rebuild):
        return [difference._asdict() for difference in rebuild.differences]

    def get_bundle_url(self, rebuild) -> str:
        return f"/api/v1/releases/{rebuild.release_id}/bundle"


class RebuildAnswerCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rebuild_id = serializers.IntegerField()
    text = serializers.CharField()
    registered_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True, help_text="Its index in the transparency log.")


class StatusSerializer(serializers.Serializer):
    """The stable status contract (``Status.as_api``); documented here for the schema only."""

    light = serializers.ChoiceField(choices=Light.CHOICES)
    result = serializers.ChoiceField(choices=["verified", "mismatch", "unverifiable", "unchecked"])
    reason = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    live_digest = serializers.CharField(allow_null=True)
    expected_digest = serializers.CharField(allow_null=True)
    layers = serializers.DictField(
        help_text="The layers of evidence above the server's own report, by name (served_files, observers): "
        "each {result, reason, message, ...}; a layer not checked is absent."
    )


class CurrentDeploymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bundle_url = serializers.SerializerMethodField(help_text="The deployment's proof bundle.")
    release_id = serializers.IntegerField()
    version = serializers.CharField(source="release.version")
    artifact_digest = serializers.CharField(source="release.artifact_digest")
    deployed_at = serializers.DateTimeField()

    def get_bundle_url(self, deployment) -> str:
        return f"/api/v1/deployments/{deployment.pk}/bundle"


def current_deployment(environment):
    """The environment's latest deployment, prefetched by the view into ``current_deployments``."""
    return environment.current_deployments[0] if environment.current_deployments else None


class EnvironmentSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    light = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField(help_text="The version deployed last, or null.")

    def get_light(self, environment) -> str:
        return public_state(status_of(environment)).light

    def get_result(self, environment) -> str:
        return public_state(status_of(environment)).result

    def get_version(self, environment) -> str | None:
        deployment = current_deployment(environment)
        return deployment.release.version if deployment else None


class EnvironmentDetailSerializer(text_fields("name", "live_url", "site_url")):
    entry_pages = serializers.ListField(
        child=serializers.CharField(),
        source="entry_page_list",
        help_text="The site's pages whose scripts and style sheets are compared (`/` when none is set).",
    )
    check_interval = serializers.IntegerField(help_text="Seconds between checks.")
    url = PageField(help_text="The environment's public page.")
    current_deployment = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    @extend_schema_field(CurrentDeploymentSerializer(allow_null=True))
    def get_current_deployment(self, environment):
        deployment = current_deployment(environment)
        return CurrentDeploymentSerializer(deployment).data if deployment else None

    @extend_schema_field(StatusSerializer)
    def get_status(self, environment):
        return status_of(environment).as_api()


class ProjectSerializer(text_fields("slug", "name", "description", "repo_url", "protected_branch")):
    url = PageField(help_text="The project's public page.")


class ProjectListSerializer(ProjectSerializer):
    environments = EnvironmentSummarySerializer(many=True)


class ProjectDetailSerializer(ProjectSerializer):
    require_served_files = serializers.BooleanField()
    inline_scripts_must_be_declared = serializers.BooleanField()
    observers_required = serializers.IntegerField()
    environments = EnvironmentDetailSerializer(many=True)


class KeylessSerializer(serializers.Serializer):
    certificate_issuer = serializers.CharField(help_text="The OIDC issuer of the CI run's token.")
    certificate_identity = serializers.CharField(help_text="The signing workflow (the certificate's SAN).")
    source_ref = serializers.CharField()
    sigstore_log_index = serializers.IntegerField(help_text="The bundle's entry in Sigstore's log (Rekor).")
    sigstore_bundle_sha256 = serializers.CharField()


class ReleaseSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    artifact_digest = serializers.CharField()
    source_commit = serializers.CharField()
    registered_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True)
    url = PageField(help_text="The release's public page.")
    bundle_url = BundleField()


class RebuildAnswerSerializer(serializers.Serializer):
    text = serializers.CharField()
    answered_at = serializers.DateTimeField(source="registered_at")


class RebuildSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rebuilder = serializers.CharField(source="rebuilder.name")
    rebuilt_at = serializers.DateTimeField()
    result = serializers.CharField(help_text="`reproduced` or `differs`.")
    subjects = serializers.ListField(
        child=serializers.DictField(),
        help_text="What the rebuilder got: each {name, digest: {algorithm: hex}}, as it signed it.",
    )
    answer = serializers.SerializerMethodField(
        help_text="The project's public answer to a rebuild that got other bytes, or null."
    )

    @extend_schema_field(RebuildAnswerSerializer(allow_null=True))
    def get_answer(self, rebuild):
        answer = getattr(rebuild, "answer", None)
        return RebuildAnswerSerializer(answer).data if answer is not None else None


class ReleaseDetailSerializer(ReleaseSummarySerializer):
    project = serializers.CharField(source="project.slug")
    artifact_name = serializers.CharField()
    repo_url = serializers.CharField()
    ci_build_url = serializers.CharField()
    signer_key_id = serializers.CharField(
        source="signer_key.key_id", allow_null=True, help_text="null for a keyless release."
    )
    signer_algorithm = serializers.CharField(source="signer_key.algorithm", allow_null=True)
    entered_by_hand = serializers.BooleanField(help_text="Registered by an operator in the admin, not by CI.")
    bundle_url = BundleField()
    envelope = serializers.SerializerMethodField(
        help_text="The DSSE envelope as received, parsed; null for a keyless release."
    )
    keyless = serializers.SerializerMethodField(
        help_text="For a keyless release, what its Sigstore bundle's certificate says; else null."
    )
    rebuilds = RebuildSerializer(many=True, help_text="Every rebuild of the release, newest first.")
    reproduced = serializers.SerializerMethodField(
        help_text="How many rebuilders got the release's own bytes (each active rebuilder's latest rebuild)."
    )
    rebuilt_by = serializers.SerializerMethodField(
        help_text="How many active rebuilders rebuilt it: 'reproduced by `reproduced` of `rebuilt_by`'."
    )

    @extend_schema_field({"type": "object", "nullable": True})
    def get_envelope(self, release):
        return json.loads(release.envelope) if release.envelope else None

    @extend_schema_field(KeylessSerializer(allow_null=True))
    def get_keyless(self, release):
        return KeylessSerializer(release).data if release.is_keyless else None

    def get_reproduced(self, release) -> int:
        return tally_rebuilds(release, release.rebuilds.all()).reproduced

    def get_rebuilt_by(self, release) -> int:
        return len(tally_rebuilds(release, release.rebuilds.all()).latest)
