"""The log's public endpoints: a stable contract that volunteers' tools and mirrors depend on.

Views only parse parameters and shape responses; the log's rules are in ``services``. The JSON API under
``/api/v1/log/`` is DRF views in the API's one style (``LogView``): every bad parameter is a 400 in the
API's error shape, never a 500, and each view's ``extend_schema`` describes it. The checkpoint and the
tiles are C2SP text and binary, not the API, so they stay plain Django views. The log's HTML page is with
the other pages (``portal.web.log``) and the proof bundles with the records they prove
(``portal.api.bundles``): both read records the log knows nothing of.
"""

import re

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.http import ErrorSerializer, PublicReadView, Unavailable, public_read
from verifier.errors import FormatError
from verifier.tiles import TILE_WIDTH, parse_tile_path

from . import services, witnesses
from .models import Checkpoint
from .signing import LogKeyError

CHECKPOINT_CACHE = "public, max-age=5, must-revalidate"
PARTIAL_TILE_CACHE = "public, max-age=60"
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
MAX_INDEX_DIGITS = 18
# The deepest real tile path is a few dozen characters; longer ones would only cost big-number parsing.
MAX_TILE_PATH = 120
_DECIMAL = re.compile(r"[0-9]+")


class LogView(PublicReadView, APIView):
    """A public read of the log's JSON API. A bad parameter (``services.LogRequestError``) is a 400 by
    itself; the log's own failures, which are no fault of the client, become a 503 saying so."""

    def handle_exception(self, exc):
        if isinstance(exc, services.LogCorrupted):
            exc = Unavailable("The log failed an integrity check and cannot give proofs now; see /log/.")
        elif isinstance(exc, LogKeyError):
            exc = Unavailable("The log signing key is unavailable; try again later.")
        return super().handle_exception(exc)


def parse_index(value, name):
    """A non-negative decimal integer, as text; anything else is the client's mistake
    (``services.LogRequestError`` naming ``name``)."""
    if value is None or value == "":
        raise services.LogRequestError(name, f"{name} is required.")
    if value.startswith("-") and _DECIMAL.fullmatch(value[1:]):
        raise services.LogRequestError(name, f"{name} must not be negative; got {value}.")
    if not _DECIMAL.fullmatch(value) or len(value) > MAX_INDEX_DIGITS:
        raise services.LogRequestError(name, f"{name} must be a non-negative integer; got {value[:40]!r}.")
    return int(value)


# --- The JSON API's bodies, as the schema describes them ---------------------------------------------
# The views answer the services' dicts as they are; these serializers only describe them.


@extend_schema_field(OpenApiTypes.BYTE)
class Base64Field(serializers.CharField):
    """Bytes in standard base64."""


class WitnessInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    verifier_key = serializers.CharField(
        help_text="C2SP verifier key of signature type 0x04 (cosignature/v1)."
    )
    url = serializers.CharField(help_text="The witness's submission prefix (C2SP tlog-witness).")


class LogInfoSerializer(serializers.Serializer):
    origin = serializers.CharField()
    verifier_key = serializers.CharField(help_text="C2SP signed-note verifier key.")
    tree_size = serializers.IntegerField(min_value=0)
    checkpoint = serializers.CharField(
        allow_null=True,
        help_text="C2SP tlog-checkpoint signed note, with its witnesses' cosignatures (tlog-cosignature v1).",
    )
    witnesses = WitnessInfoSerializer(many=True, help_text="The witnesses the log asks to cosign it.")


class LogEntrySerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    entry_b64 = Base64Field()
    leaf_hash_b64 = Base64Field()
    entry = serializers.DictField(help_text="The entry's RFC 8785 JSON (docs/formats/entries.md).")


class InclusionProofSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    tree_size = serializers.IntegerField(min_value=0)
    proof = serializers.ListField(child=Base64Field())


class ConsistencyProofSerializer(serializers.Serializer):
    first = serializers.IntegerField(min_value=0)
    second = serializers.IntegerField(min_value=0)
    proof = serializers.ListField(child=Base64Field())


INDEX = {"type": "integer", "minimum": 0}
SIZE = {"type": "integer", "minimum": 1}
UNAVAILABLE = OpenApiResponse(
    ErrorSerializer, description="The log failed an integrity check, or its key is unavailable."
)
BAD_PARAMETER = OpenApiResponse(
    ErrorSerializer, description="A parameter is missing or not a valid number; `fields` names it."
)


def number(name, where, description, schema=INDEX):
    return OpenApiParameter(name, schema, where, required=True, description=description)


def log_operation(operation_id, summary, answer, parameters=()):
    """The schema of one GET of the log's API (``tags=["log"]``)."""
    responses = {200: answer, 503: UNAVAILABLE}
    if parameters:
        responses[400] = BAD_PARAMETER
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        tags=["log"],
        parameters=list(parameters),
        responses=responses,
    )


# --- The JSON API ---------------------------------------------------------------------------------------


class LogInfoView(LogView):
    """What the log publishes about itself: its origin, its verifier key, its latest checkpoint with the
    witnesses' cosignatures, and its witnesses."""

    @log_operation(
        "log_info",
        "Log info",
        OpenApiResponse(
            LogInfoSerializer, description="The log's origin, key, latest cosigned checkpoint and witnesses."
        ),
    )
    def get(self, request):
        info = services.log_info()
        if info["checkpoint"] is not None:
            info["checkpoint"] = witnesses.cosigned_note(Checkpoint.objects.get(size=info["tree_size"]))
        info["witnesses"] = list(witnesses.active_witnesses().values("name", "verifier_key", "url"))
        return Response(info)


class EntryView(LogView):
    """One integrated entry, by index: its bytes, its leaf hash and its JSON."""

    @log_operation(
        "log_entry",
        "Log entry",
        OpenApiResponse(LogEntrySerializer, description="One integrated entry."),
        [number("index", OpenApiParameter.PATH, "The entry's index in the log.")],
    )
    def get(self, request, index):
        return Response(services.get_entry(parse_index(index, "index")))


class ProofView(LogView):
    """An RFC 9162 proof between two numbers of the log, each a required query parameter: the answer
    repeats them beside the proof's hashes. A subclass names them (``parameters``, in the order ``prove``
    takes them) and the log's function that proves (``prove``); ``proof_schema`` describes it."""

    parameters = ()
    prove = None

    def get(self, request):
        asked = {p.name: parse_index(request.query_params.get(p.name), p.name) for p in self.parameters}
        proof = self.prove(*asked.values())
        return Response({**asked, "proof": [services.b64(h) for h in proof]})


def proof_schema(kind, answer):
    """The schema of a ``ProofView`` of the given ``kind``: its answer and its query parameters."""

    def describe(view):
        described = OpenApiResponse(answer, description=f"RFC 9162 {kind} proof.")
        operation = log_operation(f"{kind}_proof", f"{kind.capitalize()} proof", described, view.parameters)
        return extend_schema_view(get=operation)(view)

    return describe


@proof_schema("inclusion", InclusionProofSerializer)
class InclusionProofView(ProofView):
    """The proof that entry ``index`` is in the tree of size ``tree_size`` (RFC 9162, 2.1.3)."""

    parameters = (
        number("index", OpenApiParameter.QUERY, "The entry's index."),
        number("tree_size", OpenApiParameter.QUERY, "A tree size.", SIZE),
    )
    prove = staticmethod(services.get_inclusion_proof)


@proof_schema("consistency", ConsistencyProofSerializer)
class ConsistencyProofView(ProofView):
    """The proof that the tree of size ``second`` extends that of size ``first`` (RFC 9162, 2.1.4)."""

    parameters = (
        number("first", OpenApiParameter.QUERY, "The older size."),
        number("second", OpenApiParameter.QUERY, "The newer size."),
    )
    prove = staticmethod(services.get_consistency_proof)


# --- The C2SP endpoints ---------------------------------------------------------------------------------


@public_read
def checkpoint(request):
    latest = services.latest_checkpoint()
    if latest is None:
        raise Http404("The log has no checkpoint yet.")
    response = HttpResponse(witnesses.cosigned_note(latest), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = CHECKPOINT_CACHE
    return response


@public_read
def tile(request, path):
    """C2SP tlog-tiles: hash tiles and entry bundles; 404 for anything the checkpoint does not cover."""
    if len(path) > MAX_TILE_PATH:
        raise Http404("Not a tile path.")
    try:
        parsed = parse_tile_path("tile/" + path)
    except FormatError:
        raise Http404("Not a tile path.") from None
    if parsed.is_entries:
        data = services.get_entry_bundle(parsed.index, parsed.width)
    else:
        data = services.get_tile(parsed.level, parsed.index, parsed.width)
    if data is None:
        raise Http404("No such tile in the current tree.")
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Cache-Control"] = FULL_TILE_CACHE if parsed.width == TILE_WIDTH else PARTIAL_TILE_CACHE
    return response
