"""What the API accepts and what it answers.

Input serializers check the shape of a request and answer with field-level errors; the registration
rules themselves (signatures, trusted keys, agreement with the signed statement, conflicts) live in
``portal.registry.services``, shared with the admin and the management commands.
"""

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.monitoring.models import public_state, status_of
from portal.registry.models import COMMIT_VALIDATOR
from verifier.digest import parse_digest
from verifier.errors import FormatError


def absolute(request, url):
    return request.build_absolute_uri(url)


def release_bundle_url(release):
    """Where the proof bundle of a release is served (by the transparency app)."""
    return f"/api/v1/releases/{release.pk}/bundle"


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


class ReleaseCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(
        max_length=50, required=False, help_text="The project's slug; defaults to the token's project."
    )
    envelope = EnvelopeField(help_text="The DSSE envelope signed by CI over an in-toto Statement v1.")
    version = serializers.CharField(max_length=100)
    ci_build_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    artifact_digest = digest_field(required=False, allow_blank=True)
    source_commit = serializers.CharField(
        max_length=64, required=False, allow_blank=True, validators=[COMMIT_VALIDATOR]
    )
    repo_url = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate_artifact_digest(self, value):
        return check_digest(value) if value else value


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


# --- output ---------------------------------------------------------------------------------------


class ReleaseLinks:
    """Where a release's public page (``url``) and its proof bundle (``bundle_url``) are."""

    def get_url(self, release) -> str:
        return absolute(self.context["request"], release.get_absolute_url())

    def get_bundle_url(self, release) -> str:
        return release_bundle_url(release)


class ReleaseCreatedSerializer(ReleaseLinks, serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    version = serializers.CharField()
    artifact_digest = serializers.CharField()
    source_commit = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="The release's public page.")
    bundle_url = serializers.SerializerMethodField(help_text="The release's proof bundle.")
    log_index = serializers.IntegerField(allow_null=True, help_text="Its index in the transparency log.")


class DeploymentCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="environment.project.slug")
    environment = serializers.CharField(source="environment.name")
    release = serializers.CharField(source="release.version")
    artifact_digest = serializers.CharField(source="release.artifact_digest")
    deployed_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True)
    url = serializers.SerializerMethodField(help_text="The deployment's public page.")

    def get_url(self, deployment) -> str:
        return absolute(self.context["request"], deployment.get_absolute_url())


class StatusSerializer(serializers.Serializer):
    """The stable status contract (``Status.as_api``); documented here for the schema only."""

    light = serializers.ChoiceField(choices=["green", "red", "none"])
    result = serializers.ChoiceField(choices=["verified", "mismatch", "unverifiable", "unchecked"])
    reason = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    live_digest = serializers.CharField(allow_null=True)
    expected_digest = serializers.CharField(allow_null=True)


class CurrentDeploymentSerializer(serializers.Serializer):
    version = serializers.CharField(source="release.version")
    artifact_digest = serializers.CharField(source="release.artifact_digest")
    deployed_at = serializers.DateTimeField()


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


class EnvironmentDetailSerializer(serializers.Serializer):
    name = serializers.CharField()
    live_url = serializers.CharField()
    check_interval = serializers.IntegerField(help_text="Seconds between checks.")
    url = serializers.SerializerMethodField(help_text="The environment's public page.")
    current_deployment = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    def get_url(self, environment) -> str:
        return absolute(self.context["request"], environment.get_absolute_url())

    @extend_schema_field(CurrentDeploymentSerializer(allow_null=True))
    def get_current_deployment(self, environment):
        deployment = current_deployment(environment)
        return CurrentDeploymentSerializer(deployment).data if deployment else None

    @extend_schema_field(StatusSerializer)
    def get_status(self, environment):
        return status_of(environment).as_api()


class ProjectSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    repo_url = serializers.CharField()
    protected_branch = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="The project's public page.")

    def get_url(self, project) -> str:
        return absolute(self.context["request"], project.get_absolute_url())


class ProjectListSerializer(ProjectSerializer):
    environments = EnvironmentSummarySerializer(many=True)


class ProjectDetailSerializer(ProjectSerializer):
    environments = EnvironmentDetailSerializer(many=True)


class ReleaseSummarySerializer(ReleaseLinks, serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    artifact_digest = serializers.CharField()
    source_commit = serializers.CharField()
    registered_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True)
    url = serializers.SerializerMethodField(help_text="The release's public page.")


class ReleaseDetailSerializer(ReleaseSummarySerializer):
    project = serializers.CharField(source="project.slug")
    artifact_name = serializers.CharField()
    repo_url = serializers.CharField()
    ci_build_url = serializers.CharField()
    signer_key_id = serializers.CharField(source="signer_key.key_id")
    signer_algorithm = serializers.CharField(source="signer_key.algorithm")
    entered_by_hand = serializers.BooleanField(help_text="Registered by an operator in the admin, not by CI.")
    bundle_url = serializers.SerializerMethodField(help_text="The release's proof bundle.")
    envelope = serializers.SerializerMethodField(help_text="The DSSE envelope as received, parsed.")

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_envelope(self, release):
        return json.loads(release.envelope)
