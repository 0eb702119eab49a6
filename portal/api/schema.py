"""The OpenAPI description of the public endpoints that are plain Django views, not DRF views.

drf-spectacular describes DRF views from their serializers. The log, its proofs and tiles, the proof
bundles, the badges, the feeds and the portal's own live endpoint are plain Django
views (each app routes its own), so ``add_plain_endpoints`` (a drf-spectacular post-processing hook,
wired in ``settings.SPECTACULAR_SETTINGS``) adds their operations here, in one place, so the schema
describes every public endpoint and the schema tests (schemathesis included) exercise them all.
"""

# The API's one error shape (``portal.http.ErrorSerializer``, which drf-spectacular names "Error").
ERROR = {"$ref": "#/components/schemas/Error"}
INDEX = {"type": "integer", "minimum": 0}
SIZE = {"type": "integer", "minimum": 1}
B64 = {"type": "string", "format": "byte"}
LIGHT = {"type": "string", "enum": ["verified", "mismatch", "unverifiable", "unchecked"]}

SCHEMAS = {
    "LogInfo": {
        "type": "object",
        "required": ["origin", "verifier_key", "tree_size", "checkpoint"],
        "properties": {
            "origin": {"type": "string"},
            "verifier_key": {"type": "string", "description": "C2SP signed-note verifier key."},
            "tree_size": INDEX,
            "checkpoint": {
                "type": "string",
                "nullable": True,
                "description": "C2SP tlog-checkpoint signed note.",
            },
        },
    },
    "LogEntry": {
        "type": "object",
        "required": ["index", "entry_b64", "leaf_hash_b64", "entry"],
        "properties": {
            "index": INDEX,
            "entry_b64": B64,
            "leaf_hash_b64": B64,
            "entry": {
                "type": "object",
                "description": "The entry's RFC 8785 JSON (docs/formats/entries.md).",
            },
        },
    },
    "InclusionProof": {
        "type": "object",
        "required": ["index", "tree_size", "proof"],
        "properties": {"index": INDEX, "tree_size": INDEX, "proof": {"type": "array", "items": B64}},
    },
    "ConsistencyProof": {
        "type": "object",
        "required": ["first", "second", "proof"],
        "properties": {"first": INDEX, "second": INDEX, "proof": {"type": "array", "items": B64}},
    },
    "ProofBundle": {
        "type": "object",
        "description": "A proof bundle (docs/formats/bundle.md); `python -m verifier verify` checks it.",
    },
    "BadgeStatus": {
        "type": "object",
        "description": "An environment's or project's public status; with `format=shields`, a shields.io "
        "endpoint-badge document (`schemaVersion`, `label`, `message`, `color`).",
    },
    "LiveDeployment": {
        "type": "object",
        "required": ["artifact_digest"],
        "properties": {
            "artifact_digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            "source_commit": {"type": "string"},
            "version": {"type": "string"},
        },
    },
}


def parameter(name, where, description, schema=None, required=True):
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}
PROJECT = parameter("project", "path", "The project's slug.", SLUG)
ENVIRONMENT = parameter("env", "path", "The environment's name.", SLUG)
LANG = parameter("lang", "query", "`es` or `en`; else the browser's language.", required=False)
FORMAT = parameter(
    "format", "query", "`shields` for a shields.io endpoint badge.", {"type": "string"}, required=False
)


def content(media_type, schema):
    return {"content": {media_type: {"schema": schema}}}


def json_answer(description, ref):
    return {
        "description": description,
        **content("application/json", {"$ref": f"#/components/schemas/{ref}"}),
    }


def error(description):
    return {"description": description, **content("application/json", ERROR)}


def operation(tag, summary, responses, parameters=()):
    return {
        "get": {
            "operationId": summary.lower().replace(" ", "_").replace("'", ""),
            "summary": summary,
            "tags": [tag],
            "security": [{}],
            "parameters": list(parameters),
            "responses": responses,
        }
    }


UNAVAILABLE = error("The log failed an integrity check, or its key is unavailable.")
BAD_PARAMETER = error("A parameter is missing or not a valid number; `fields` names it.")
TEXT = content("text/plain", {"type": "string"})
SVG = content("image/svg+xml", {"type": "string"})
ATOM = content("application/atom+xml", {"type": "string"})
# A name that is not a slug never reaches the badge views: the site's HTML 404 page answers.
NOT_A_SLUG = {"text/html": {"schema": {"type": "string"}}}
BADGE_NOT_FOUND = {
    "description": "No such project or environment (the same document shape, or a shields.io error badge).",
    "content": {"application/json": {"schema": {"type": "object"}}, **NOT_A_SLUG},
}
SVG_NOT_FOUND = {
    "description": "No such project or environment (a badge says so).",
    "content": {"image/svg+xml": {"schema": {"type": "string"}}, **NOT_A_SLUG},
}

PATHS = {
    "/api/v1/log/": operation(
        "log",
        "Log info",
        {"200": json_answer("The log's origin, key and latest checkpoint.", "LogInfo"), "503": UNAVAILABLE},
    ),
    "/api/v1/log/entries/{index}": operation(
        "log",
        "Log entry",
        {"200": json_answer("One integrated entry.", "LogEntry"), "400": BAD_PARAMETER, "503": UNAVAILABLE},
        [parameter("index", "path", "The entry's index in the log.", INDEX)],
    ),
    "/api/v1/log/proof/inclusion": operation(
        "log",
        "Inclusion proof",
        {
            "200": json_answer("RFC 9162 inclusion proof.", "InclusionProof"),
            "400": BAD_PARAMETER,
            "503": UNAVAILABLE,
        },
        [
            parameter("index", "query", "The entry's index.", INDEX),
            parameter("tree_size", "query", "A tree size.", SIZE),
        ],
    ),
    "/api/v1/log/proof/consistency": operation(
        "log",
        "Consistency proof",
        {
            "200": json_answer("RFC 9162 consistency proof.", "ConsistencyProof"),
            "400": BAD_PARAMETER,
            "503": UNAVAILABLE,
        },
        [
            parameter("first", "query", "The older size.", INDEX),
            parameter("second", "query", "The newer size.", INDEX),
        ],
    ),
    "/api/v1/releases/{id}/bundle": operation(
        "proofs",
        "Release proof bundle",
        {
            "200": json_answer("The release's proof bundle.", "ProofBundle"),
            "404": error("No such release, or it is not in the log yet."),
            "503": UNAVAILABLE,
        },
        [parameter("id", "path", "The release's id.", {"type": "integer"})],
    ),
    "/api/v1/deployments/{id}/bundle": operation(
        "proofs",
        "Deployment proof bundle",
        {
            "200": json_answer("The deployment's proof bundle.", "ProofBundle"),
            "404": error("No such deployment, or it is not in the log yet."),
            "503": UNAVAILABLE,
        },
        [parameter("id", "path", "The deployment's id.", {"type": "integer"})],
    ),
    "/log/checkpoint": operation(
        "log",
        "Checkpoint",
        {
            "200": {"description": "The latest C2SP signed checkpoint.", **TEXT},
            "404": {"description": "The log has no checkpoint yet."},
        },
    ),
    "/log/tile/{path}": operation(
        "log",
        "Tile",
        {
            "200": {
                "description": "A C2SP tlog-tiles hash tile or entry bundle.",
                **content("application/octet-stream", {"type": "string", "format": "binary"}),
            },
            "404": {"description": "Not a tile path, or beyond the current tree."},
        },
        [parameter("path", "path", "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]` (C2SP tlog-tiles).")],
    ),
    "/badge/{project}.svg": operation(
        "status",
        "Project badge",
        {
            "200": {"description": "SVG badge.", **SVG},
            "404": SVG_NOT_FOUND,
        },
        [PROJECT, LANG],
    ),
    "/badge/{project}/{env}.svg": operation(
        "status",
        "Environment badge",
        {
            "200": {"description": "SVG badge.", **SVG},
            "404": SVG_NOT_FOUND,
        },
        [PROJECT, ENVIRONMENT, LANG],
    ),
    "/badge/{project}.json": operation(
        "status",
        "Project status",
        {"200": json_answer("The project's status.", "BadgeStatus"), "404": BADGE_NOT_FOUND},
        [PROJECT, LANG, FORMAT],
    ),
    "/badge/{project}/{env}.json": operation(
        "status",
        "Environment status",
        {"200": json_answer("The environment's status.", "BadgeStatus"), "404": BADGE_NOT_FOUND},
        [PROJECT, ENVIRONMENT, LANG, FORMAT],
    ),
    "/feeds/deployments.atom": operation(
        "feeds", "Deployments feed", {"200": {"description": "Atom feed of deployments.", **ATOM}}
    ),
    "/feeds/status.atom": operation(
        "feeds", "Status feed", {"200": {"description": "Atom feed of status changes.", **ATOM}}
    ),
    "/.well-known/vitrina/deployment": operation(
        "status",
        "Portal live endpoint",
        {"200": json_answer("What this portal runs, in the live endpoint format.", "LiveDeployment")},
    ),
}


def add_plain_endpoints(result, generator, request, public):
    """drf-spectacular post-processing hook: add the plain Django views' operations and schemas."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    for path, item in PATHS.items():
        result["paths"].setdefault(path, {}).update(item)
    return result
