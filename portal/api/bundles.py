"""The proof bundles' endpoints: one JSON download per release or deployment, for offline checking.

Plain Django views, because the answer is a file (``Content-Disposition``) in a fixed layout
(``docs/formats/bundle.md``), not a serializer's representation. The bundles are built by
``portal.registry.bundles``; the log's refusals become the API's error shape through the log's own
``api_errors``.
"""

import json

from django.http import HttpResponse

from portal.http import error_response, public_read
from portal.registry import bundles
from portal.registry.models import Deployment, Release
from portal.transparency.views import api_errors


@public_read
@api_errors
def release_bundle(request, pk):
    release = Release.objects.select_related("project", "signer_key").filter(pk=pk).first()
    if release is None:
        return error_response(404, f"There is no release {pk}.", "not_found")
    return bundle_response(bundles.release_bundle, release)


@public_read
@api_errors
def deployment_bundle(request, pk):
    deployment = (
        Deployment.objects.select_related("environment__project", "release__project", "release__signer_key")
        .filter(pk=pk)
        .first()
    )
    if deployment is None:
        return error_response(404, f"There is no deployment {pk}.", "not_found")
    return bundle_response(bundles.deployment_bundle, deployment)


def bundle_response(build, record):
    try:
        bundle = build(record)
    except bundles.NotLogged as exc:
        return error_response(404, f"{str(exc).capitalize()}.", "not_found")
    body = json.dumps(bundle, indent=2, ensure_ascii=True) + "\n"
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{bundles.bundle_filename(bundle)}"'
    return response
