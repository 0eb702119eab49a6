"""The log's public endpoints: a stable contract that volunteers' tools and mirrors depend on.

Views only parse parameters and shape responses; the log's rules are in ``services``. Every bad
parameter is a 400 in the API's error shape, never a 500. The log's HTML page is with the other pages
(``portal.web.log``) and the proof bundles with the records they prove (``portal.api.bundles``): both
read records the log knows nothing of.
"""

import functools
import re

from django.http import Http404, HttpResponse, JsonResponse

from portal.http import error_response, public_read
from verifier.errors import FormatError
from verifier.tiles import TILE_WIDTH, parse_tile_path

from . import services
from .signing import LogKeyError

CHECKPOINT_CACHE = "public, max-age=5, must-revalidate"
PARTIAL_TILE_CACHE = "public, max-age=60"
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
MAX_INDEX_DIGITS = 18
# The deepest real tile path is a few dozen characters; longer ones would only cost big-number parsing.
MAX_TILE_PATH = 120
_DECIMAL = re.compile(r"[0-9]+")


class BadParameter(Exception):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def api_errors(view):
    """Turn the log's refusals into the API's error shape."""

    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (BadParameter, services.LogRequestError) as exc:
            return error_response(400, exc.message, fields={exc.field: [exc.message]})
        except services.LogCorrupted:
            return error_response(
                503, "The log failed an integrity check and cannot give proofs now; see /log/.", "unavailable"
            )
        except LogKeyError:
            return error_response(503, "The log signing key is unavailable; try again later.", "unavailable")

    return functools.wraps(view)(wrapped)


def parse_index(value, name):
    """A non-negative decimal integer, as text; anything else is the client's mistake."""
    if value is None or value == "":
        raise BadParameter(name, f"{name} is required.")
    if value.startswith("-") and _DECIMAL.fullmatch(value[1:]):
        raise BadParameter(name, f"{name} must not be negative; got {value}.")
    if not _DECIMAL.fullmatch(value) or len(value) > MAX_INDEX_DIGITS:
        raise BadParameter(name, f"{name} must be a non-negative integer; got {value[:40]!r}.")
    return int(value)


@public_read
def checkpoint(request):
    latest = services.latest_checkpoint()
    if latest is None:
        raise Http404("The log has no checkpoint yet.")
    response = HttpResponse(latest.note, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = CHECKPOINT_CACHE
    return response


@public_read
@api_errors
def log_info(request):
    return JsonResponse(services.log_info())


@public_read
@api_errors
def entry(request, index):
    return JsonResponse(services.get_entry(parse_index(index, "index")))


@public_read
@api_errors
def inclusion_proof(request):
    index = parse_index(request.GET.get("index"), "index")
    size = parse_index(request.GET.get("tree_size"), "tree_size")
    proof = services.get_inclusion_proof(index, size)
    return JsonResponse({"index": index, "tree_size": size, "proof": [services.b64(h) for h in proof]})


@public_read
@api_errors
def consistency_proof(request):
    first = parse_index(request.GET.get("first"), "first")
    second = parse_index(request.GET.get("second"), "second")
    proof = services.get_consistency_proof(first, second)
    return JsonResponse({"first": first, "second": second, "proof": [services.b64(h) for h in proof]})


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
