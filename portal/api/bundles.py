"""The proof bundles' endpoints: one JSON download per release, deployment, note or observer report, for
offline checking. A release's bundle (a deployment's too) carries the rebuilds its light counts.

DRF views in the API's one style (``LogView``: the log's failures are a 503), answered as a file: the
``BundleRenderer`` writes the fixed layout of ``docs/formats/bundle.md`` and the view names the file
(``Content-Disposition``). The bundles are built by ``portal.registry.bundles``.
"""

import json

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from portal.http import ErrorSerializer
from portal.monitoring.layers import latest_rebuilds
from portal.registry import bundles
from portal.registry.models import Deployment, ObserverReport, Release, StatusNote
from portal.transparency.views import UNAVAILABLE, LogView


class BundleRenderer(JSONRenderer):
    """The bundle's file layout: two-space indent, ASCII only, a final newline (refusals alike)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return (json.dumps(data, indent=2, ensure_ascii=True) + "\n").encode("ascii")


class ProofBundleSerializer(serializers.Serializer):
    """A proof bundle (docs/formats/bundle.md); `python -m verifier verify` checks it."""

    # Declared for the schema: the views answer what ``portal.registry.bundles`` builds.

    bundle_version = serializers.IntegerField()
    kind = serializers.CharField(help_text="`release`, `deployment`, `note` or `observer_report`.")
    log = serializers.DictField(help_text="The entry, its inclusion proof and the signed checkpoint.")
    project = serializers.DictField()


def bundle_schema(kind):
    name = kind.replace("_", " ")
    return extend_schema(
        operation_id=f"{kind}_proof_bundle",
        summary=f"{name.capitalize()} proof bundle",
        tags=["proofs"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description=f"The {name}'s id.")],
        responses={
            200: OpenApiResponse(ProofBundleSerializer, description=f"The {name}'s proof bundle."),
            404: OpenApiResponse(
                ErrorSerializer, description=f"No such {name}, or it is not in the log yet."
            ),
            503: UNAVAILABLE,
        },
    )


class BundleView(LogView):
    """A proof bundle as a file to download, named in ``Content-Disposition``."""

    renderer_classes = [BundleRenderer]

    def answer(self, build, record):
        try:
            bundle = build(record)
        except bundles.NotLogged as exc:
            raise NotFound(f"{str(exc).capitalize()}.") from None
        filename = bundles.bundle_filename(bundle)
        return Response(bundle, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def counted_rebuilds(release):
    """The rebuilds a release's bundle carries: those its light and its page count (each active
    rebuilder's latest, ``latest_rebuilds``), so that the bundle says 'reproduced by N of M' as they do."""
    return list(latest_rebuilds(release, release.rebuilds.select_related("rebuilder")).values())


class ReleaseBundleView(BundleView):
    """A release's proof bundle: its record, envelope, signing key, log proof, project and rebuilds."""

    @bundle_schema("release")
    def get(self, request, pk):
        release = Release.objects.select_related("project", "signer_key").filter(pk=pk).first()
        if release is None:
            raise NotFound(f"There is no release {pk}.")
        return self.answer(lambda r: bundles.release_bundle(r, rebuilds=counted_rebuilds(r)), release)


class DeploymentBundleView(BundleView):
    """A deployment's proof bundle: its record and log proof, with its release's bundle inside."""

    @bundle_schema("deployment")
    def get(self, request, pk):
        deployment = (
            Deployment.objects.select_related(
                "environment__project", "release__project", "release__signer_key"
            )
            .filter(pk=pk)
            .first()
        )
        if deployment is None:
            raise NotFound(f"There is no deployment {pk}.")
        rebuilds = counted_rebuilds(deployment.release)
        return self.answer(lambda d: bundles.deployment_bundle(d, rebuilds), deployment)


class NoteBundleView(BundleView):
    """An operator's public note's proof bundle: its record and log proof."""

    @bundle_schema("note")
    def get(self, request, pk):
        note = StatusNote.objects.select_related("project", "environment").filter(pk=pk).first()
        if note is None:
            raise NotFound(f"There is no note {pk}.")
        return self.answer(bundles.note_bundle, note)


class ObserverReportBundleView(BundleView):
    """An independent observer's report's proof bundle: its record, signed envelope, the observer's key
    and log proof."""

    @bundle_schema("observer_report")
    def get(self, request, pk):
        report = (
            ObserverReport.objects.select_related("observer", "environment__project").filter(pk=pk).first()
        )
        if report is None:
            raise NotFound(f"There is no observer report {pk}.")
        return self.answer(bundles.observer_report_bundle, report)
