"""The API's views: registration from CI (token-authenticated) and the public, read-only views.

Views stay thin: a serializer checks the request's shape, a ``portal.registry.services`` function
applies the rules and writes, and any refusal becomes the API's one error shape (``portal.http``).
"""

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import OuterRef, Prefetch, Subquery, prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import MethodNotAllowed, NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.http import ErrorSerializer, LengthRequired, Pagination
from portal.registry import services
from portal.registry.models import Deployment, Environment, Observer, Project, Rebuild, Rebuilder, Release
from portal.transparency.models import LogEntry
from portal.transparency.services import index_of

from . import serializers
from .auth import (
    BearerTokenAuthentication,
    HasObserverToken,
    HasProjectToken,
    HasRebuilderToken,
    ObserverTokenAuthentication,
    RebuilderTokenAuthentication,
)

ERROR = ErrorSerializer
READ_SIZE = 64 * 1024


def error_responses(*statuses):
    return {code: OpenApiResponse(ERROR, description=description) for code, description in statuses}


COMMON_POST_ERRORS = (
    (400, "Malformed JSON or an invalid field; `fields` names each problem."),
    (401, "No token, or a token that is not valid or was revoked."),
    (403, "The token belongs to another project."),
    (404, "No such project, environment or release."),
    (411, "A body without Content-Length, on a server that cannot read one to its end."),
    (413, "The body is larger than the server's limit."),
    (415, "The body is not JSON."),
    (503, "The log failed its self-audit; nothing is recorded until an operator resolves it."),
)


class BoundedRequest(Request):
    """A request whose body is read whole by ``read_body``, up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes.

    DRF's own reading streams the body past that limit, and takes a body without Content-Length (a
    chunked one) for an empty one.
    """

    def _load_stream(self):
        body = read_body(self._request)
        self._stream = io.BytesIO(body) if body else None


def read_body(request):
    """The request's body, or ``RequestDataTooBig`` (413) past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes.

    ``HttpRequest.body`` enforces the limit with or without a Content-Length, but under WSGI it reads
    a body without one (``Transfer-Encoding: chunked``) as empty. Such a body is read here from the
    WSGI input, counting bytes as they come, when the server vouches that the input ends where the
    body ends (``wsgi.input_terminated``, as gunicorn does); a server that does not gets a 411, never
    a request taken for empty. Under ASGI the server hands Django the whole body: ``body`` reads it.
    """
    meta = request.META
    if "wsgi.input" not in meta or meta.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" not in meta:
        return request.body
    if not meta.get("wsgi.input_terminated"):
        raise LengthRequired("This server cannot read a body without Content-Length; send Content-Length.")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunks, size = [], 0
    while chunk := meta["wsgi.input"].read(READ_SIZE):
        size += len(chunk)
        if limit is not None and size > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        chunks.append(chunk)
    return b"".join(chunks)


class TokenView(APIView):
    """A registration endpoint for CI: bearer token only (see ``auth.py`` for why there is no CSRF)."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasProjectToken]

    def initialize_request(self, request, *args, **kwargs):
        return BoundedRequest(
            request,
            parsers=self.get_parsers(),
            authenticators=self.get_authenticators(),
            negotiator=self.get_content_negotiator(),
            parser_context=self.get_parser_context(request),
        )

    def initial(self, request, *args, **kwargs):
        # A wrong method is a 405 whoever asks; it need not wait for the token to be checked.
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    def permission_denied(self, request, message=None, code=None):
        if request.auth is None:
            raise NotAuthenticated(HasProjectToken.message)
        super().permission_denied(request, message, code)

    def project_for(self, slug):
        """The project named in the body, else the token's; either way the token must be scoped to it."""
        project = services.get_project(slug) if slug else self.request.auth.project
        services.check_token_scope(self.request.auth, project)
        return project


class ReleaseCreateView(TokenView):
    @extend_schema(
        summary="Register a signed release",
        description=(
            "CI posts the DSSE envelope it signed with a project key, or (keyless) the Sigstore bundle its "
            "attestation step made (sigstore_bundle), verified offline under the project's trusted CI "
            "identities. The artifact digest, source commit and repository come from the signed statement; "
            "top-level fields, where given, must agree with it. Posting the identical evidence again "
            "answers 200 with the same release; the same version with other content is refused with 409."
        ),
        request=serializers.ReleaseCreateSerializer,
        responses={
            201: serializers.ReleaseCreatedSerializer,
            200: OpenApiResponse(serializers.ReleaseCreatedSerializer, description="Already registered."),
            **error_responses(*COMMON_POST_ERRORS, (409, "The version is registered with other content.")),
        },
        tags=["registration"],
    )
    def post(self, request):
        serializer = serializers.ReleaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        project = self.project_for(data.pop("project", None))
        release, created = services.register_release(
            project, data.pop("envelope", None), version=data.pop("version"), token=request.auth, **data
        )
        release.log_index = index_of("release", release.pk)
        body = serializers.ReleaseCreatedSerializer(release, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DeploymentCreateView(TokenView):
    @extend_schema(
        summary="Record a deployment",
        description="Record that a release (by version or sha256: digest) now runs in an environment.",
        request=serializers.DeploymentCreateSerializer,
        responses={201: serializers.DeploymentCreatedSerializer, **error_responses(*COMMON_POST_ERRORS)},
        tags=["registration"],
    )
    def post(self, request):
        serializer = serializers.DeploymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = self.project_for(data.get("project"))
        environment = services.get_environment(project, data["environment"])
        release = services.find_release(project, data["release"])
        deployment = services.record_deployment(
            environment,
            release,
            pipeline_run_url=data.get("pipeline_run_url", ""),
            deployed_at=data.get("deployed_at"),
            token=request.auth,
        )
        deployment.log_index = index_of("deployment", deployment.pk)
        body = serializers.DeploymentCreatedSerializer(deployment, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class NoteCreateView(TokenView):
    @extend_schema(
        summary="Post a public note on a status",
        description=(
            "Attach an operator's public note (maintenance, investigating, resolved, info) to an "
            "environment, or to every environment of the project. It is logged, shown beside the light "
            "and never changes it; a newer note replaces it. Notes are never edited or deleted."
        ),
        request=serializers.NoteCreateSerializer,
        responses={201: serializers.NoteCreatedSerializer, **error_responses(*COMMON_POST_ERRORS)},
        tags=["registration"],
    )
    def post(self, request):
        serializer = serializers.NoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = self.project_for(data.get("project"))
        name = data.get("environment")
        note = services.post_note(
            project,
            environment=services.get_environment(project, name) if name else None,
            kind=data["kind"],
            text=data["text"],
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            token=request.auth,
        )
        note.log_index = index_of("note", note.pk)
        body = serializers.NoteCreatedSerializer(note, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class PartyTokenView(TokenView):
    """An endpoint for an independent party (an observer, a rebuilder): its own token only, set by a
    subclass's one authentication and one permission class."""

    def permission_denied(self, request, message=None, code=None):
        if request.auth is None:
            raise NotAuthenticated(self.permission_classes[0].message)
        super().permission_denied(request, message, code)


class ObserverReportCreateView(PartyTokenView):
    """An independent observer posts what it saw, signed with its own key, with its own token."""

    authentication_classes = [ObserverTokenAuthentication]
    permission_classes = [HasObserverToken]

    @extend_schema(
        summary="Post an observer's signed observation",
        description=(
            "A registered observer posts the observation `vitrina-verify observe` made from its own network "
            "(docs/formats/observation.md), signed with its key. It is verified under that key, checked "
            "against the portal's records (project, environment, deployment, time) and logged. Posting "
            "the same envelope again answers 200 with the same report."
        ),
        request=serializers.ObserverReportCreateSerializer,
        responses={
            201: serializers.ObserverReportCreatedSerializer,
            200: OpenApiResponse(
                serializers.ObserverReportCreatedSerializer, description="Already recorded."
            ),
            **error_responses(
                (
                    400,
                    "Malformed JSON, a malformed envelope or observation, a bad signature, a time out of "
                    "range, or a deployment that does not match; `fields` names it.",
                ),
                (401, "No token, or one that is not a valid observer token (a project token is not)."),
                (403, "The observation is signed for another observer's name."),
                (404, "No such project or environment."),
                (411, "A body without Content-Length, on a server that cannot read one to its end."),
                (413, "The body or the envelope is larger than allowed (an envelope holds 256 KiB)."),
                (415, "The body is not JSON."),
                (503, "The log failed its self-audit; nothing is recorded until an operator resolves it."),
            ),
        },
        tags=["observers"],
    )
    def post(self, request):
        serializer = serializers.ObserverReportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = services.record_observer_report(request.auth, serializer.validated_data["envelope"])
        report.log_index = index_of("observer_report", report.pk)
        body = serializers.ObserverReportCreatedSerializer(report, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)


class RebuildCreateView(PartyTokenView):
    """An independent rebuilder posts what it got rebuilding a release, signed with its own key."""

    authentication_classes = [RebuilderTokenAuthentication]
    permission_classes = [HasRebuilderToken]

    @extend_schema(
        summary="Post a rebuilder's signed rebuild attestation",
        description=(
            "A registered rebuilder posts the attestation `vitrina-verify rebuild --publish` made after "
            "rebuilding a release's commit by its recorded build instructions (docs/formats/rebuild.md), "
            "signed with its key. It is verified under that key, its release link, commit and repository "
            "checked against the release, its subjects compared with the release's signed subjects "
            "(`result`: reproduced or differs) and logged. An envelope, or a run (its invocationId), is "
            "posted once: again is a 409."
        ),
        request=serializers.RebuildCreateSerializer,
        responses={
            201: serializers.RebuildCreatedSerializer,
            **error_responses(
                (
                    400,
                    "Malformed JSON, a malformed envelope or attestation, a bad signature, another "
                    "version, digest, commit or repository than the release's, subjects the release "
                    "does not have (or lacking some), or a time out of range; `fields` names it.",
                ),
                (401, "No token, or one that is not a valid rebuilder token (a project token is not)."),
                (403, "The attestation is signed for another rebuilder's name."),
                (404, "No such project or release."),
                (409, "This envelope, or this run of the rebuilder, is already recorded."),
                (411, "A body without Content-Length, on a server that cannot read one to its end."),
                (413, "The body or the envelope is larger than allowed (an envelope holds 256 KiB)."),
                (415, "The body is not JSON."),
                (503, "The log failed its self-audit; nothing is recorded until an operator resolves it."),
            ),
        },
        tags=["rebuilders"],
    )
    def post(self, request):
        serializer = serializers.RebuildCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rebuild = services.record_rebuild(request.auth, serializer.validated_data["envelope"])
        rebuild.log_index = index_of("rebuild", rebuild.pk)
        body = serializers.RebuildCreatedSerializer(rebuild, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class RebuildAnswerCreateView(TokenView):
    @extend_schema(
        summary="Answer a rebuild that got other bytes",
        description=(
            "The project's public answer to a rebuild whose result differs (why the project still stands "
            "by its release): logged, shown beside the rebuild, given once and never edited. Until a "
            "differing rebuild is answered, environments running its release are red."
        ),
        request=serializers.RebuildAnswerCreateSerializer,
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The rebuild's id.")],
        responses={
            201: serializers.RebuildAnswerCreatedSerializer,
            **error_responses(
                (
                    400,
                    "Malformed JSON, a text that is empty, too long or not one line, or a rebuild that "
                    "reproduced the release (nothing to answer).",
                ),
                (401, "No token, or a token that is not valid or was revoked."),
                (403, "The token belongs to another project than the rebuild's release."),
                (404, "No such rebuild."),
                (409, "The rebuild is already answered."),
                (411, "A body without Content-Length, on a server that cannot read one to its end."),
                (413, "The body is larger than the server's limit."),
                (415, "The body is not JSON."),
                (503, "The log failed its self-audit; nothing is recorded until an operator resolves it."),
            ),
        },
        tags=["rebuilders"],
    )
    def post(self, request, pk):
        serializer = serializers.RebuildAnswerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rebuild = Rebuild.objects.select_related("release__project").filter(pk=pk).first()
        if rebuild is None:
            raise services.Refused("rebuild", f"There is no rebuild {pk}.", status=404)
        answer = services.answer_rebuild(rebuild, serializer.validated_data["text"], token=request.auth)
        answer.log_index = index_of("rebuild_answer", answer.pk)
        body = serializers.RebuildAnswerCreatedSerializer(answer, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- public reads ---------------------------------------------------------------------------------


def environments_prefetch():
    """Each environment with its status and its latest deployment, in a constant number of queries.

    The latest deployment comes from a sliced ``Prefetch`` (a window function in SQL), so a project
    with thirty environments costs the same three queries as one with a single environment.
    """
    latest = Deployment.objects.select_related("release").order_by("-deployed_at", "-id")[:1]
    environments = Environment.objects.select_related("status").order_by("name")
    current = Prefetch("deployments", queryset=latest, to_attr="current_deployments")
    return Prefetch("environments", queryset=environments.prefetch_related(current))


def with_log_index(releases):
    entries = LogEntry.objects.filter(kind=LogEntry.Kind.RELEASE, object_id=OuterRef("pk"))
    return releases.annotate(log_index=Subquery(entries.values("index")[:1]))


PAGING_ERROR = (400, "limit or offset is not a whole number in range; `fields` names it.")


def public_read_schema(summary, answer, *errors):
    """The schema of a public read (``tags=["public"]``): its answer, and its refusals as ``(status,
    description)`` pairs."""
    return extend_schema(
        summary=summary, responses={200: answer, **error_responses(*errors)}, tags=["public"]
    )


@public_read_schema("List projects", serializers.ProjectListSerializer(many=True), PAGING_ERROR)
class ProjectListView(generics.ListAPIView):
    serializer_class = serializers.ProjectListSerializer
    pagination_class = Pagination
    queryset = Project.objects.order_by("name", "slug").prefetch_related(environments_prefetch())


@public_read_schema(
    "Independent observers, with their public keys (removed ones too)",
    serializers.PartySerializer(many=True),
    PAGING_ERROR,
)
class ObserverListView(generics.ListAPIView):
    serializer_class = serializers.PartySerializer
    pagination_class = Pagination
    queryset = Observer.objects.order_by("name")


@public_read_schema(
    "Independent rebuilders, with their public keys (removed ones too)",
    serializers.PartySerializer(many=True),
    PAGING_ERROR,
)
class RebuilderListView(generics.ListAPIView):
    serializer_class = serializers.PartySerializer
    pagination_class = Pagination
    queryset = Rebuilder.objects.order_by("name")


@public_read_schema(
    "A project, its environments and what runs in each",
    serializers.ProjectDetailSerializer,
    (404, "No such project."),
)
class ProjectDetailView(generics.RetrieveAPIView):
    serializer_class = serializers.ProjectDetailSerializer

    def get_object(self):
        project = services.get_project(self.kwargs["slug"])
        prefetch_related_objects([project], environments_prefetch())
        return project


@extend_schema(
    parameters=[
        OpenApiParameter(
            "version",
            str,
            OpenApiParameter.QUERY,
            required=False,
            description="Only the release of this version (a rebuilder finds a release this way).",
        )
    ]
)
@public_read_schema(
    "A project's releases, newest first",
    serializers.ReleaseSummarySerializer(many=True),
    PAGING_ERROR,
    (404, "No such project."),
)
class ProjectReleaseListView(generics.ListAPIView):
    serializer_class = serializers.ReleaseSummarySerializer
    pagination_class = Pagination

    def get_queryset(self):
        project = services.get_project(self.kwargs["slug"])
        releases = project.releases.select_related("project").defer("envelope", "sigstore_bundle")
        version = self.request.query_params.get("version")
        if version is not None:
            releases = releases.filter(version=version)
        return with_log_index(releases.order_by("-registered_at", "-id"))


@public_read_schema(
    "A release, with its signer, log index, proof bundle and envelope",
    serializers.ReleaseDetailSerializer,
    (404, "No such release."),
)
class ReleaseDetailView(generics.RetrieveAPIView):
    """A release, read-only: releases are history, so PUT, PATCH and DELETE answer 405."""

    serializer_class = serializers.ReleaseDetailSerializer

    def get_object(self):
        pk = self.kwargs["pk"]
        rebuilds = Rebuild.objects.select_related("rebuilder", "answer").order_by("-rebuilt_at", "-id")
        release = (
            Release.objects.select_related("project", "signer_key")
            .prefetch_related(Prefetch("rebuilds", queryset=rebuilds))
            .filter(pk=pk)
            .first()
        )
        if release is None:
            raise services.Refused("release", f"There is no release {pk}.", status=404)
        release.log_index = index_of("release", release.pk)
        return release
