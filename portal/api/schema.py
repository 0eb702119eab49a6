"""The OpenAPI description of the public endpoints that are not DRF views, and so not under /api/v1/.

drf-spectacular describes DRF views from their ``extend_schema`` and serializers; every endpoint under
/api/v1/ is one. The log's C2SP checkpoint and tiles (text and binary), the badges, the feeds (the site's
and each project's), the portal's own live endpoint and the operations endpoints (``/metrics``,
``/healthz``) are plain Django views (each app routes its own), so ``add_plain_endpoints``
(a drf-spectacular post-processing hook, wired in ``settings.SPECTACULAR_SETTINGS``) adds their
operations here, in one place, so the schema describes every public endpoint and the schema tests
(schemathesis included) exercise them all. ``tests/portal/api/test_docs_page.py`` walks the URL map and
fails on a public route the schema does not describe.
"""

SCHEMAS = {
    "BadgeStatus": {
        "type": "object",
        "description": "An environment's or project's public status; with `format=shields`, a shields.io "
        "endpoint-badge document (`schemaVersion`, `label`, `message`, `color`). An environment's status "
        "carries `note`: the operator's public note shown beside its light (`kind`, `text`, `starts_at`, "
        "`ends_at`, `log_index`), or null; a note never changes the light.",
    },
    "Health": {
        "type": "object",
        "required": ["database", "broker", "worker", "last_check_age_seconds", "took_ms"],
        "properties": {
            "database": {"type": "string", "enum": ["ok", "error"]},
            "broker": {"type": "string", "enum": ["ok", "error"]},
            "worker": {
                "type": "string",
                "enum": ["ok", "stale", "unknown"],
                "description": "Whether a check was written recently enough; `unknown` before the first.",
            },
            "last_check_age_seconds": {"type": "integer", "nullable": True},
            "took_ms": {"type": "integer"},
        },
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
PROJECT_SLUG = parameter("slug", "path", "The project's slug.", SLUG)
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


TEXT = content("text/plain", {"type": "string"})
SVG = content("image/svg+xml", {"type": "string"})
ATOM = content("application/atom+xml", {"type": "string"})
# A name that is not a slug never reaches the badge views: the site's HTML 404 page answers.
NOT_A_SLUG = {"text/html": {"schema": {"type": "string"}}}
BADGE_NOT_FOUND = {
    "description": "No such project or environment (the same document shape, or a shields.io error badge).",
    "content": {"application/json": {"schema": {"type": "object"}}, **NOT_A_SLUG},
}
FEED_NOT_FOUND = {"description": "No such project (the site's page saying so).", "content": NOT_A_SLUG}
SVG_NOT_FOUND = {
    "description": "No such project or environment (a badge says so).",
    "content": {"image/svg+xml": {"schema": {"type": "string"}}, **NOT_A_SLUG},
}

PATHS = {
    "/log/checkpoint": operation(
        "log",
        "Checkpoint",
        {
            "200": {
                "description": "The latest C2SP signed checkpoint, with its witnesses' cosignature lines.",
                **TEXT,
            },
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
        "feeds", "Deployments feed", {"200": {"description": "Atom feed of deployments.", **ATOM}}, [LANG]
    ),
    "/feeds/status.atom": operation(
        "feeds", "Status feed", {"200": {"description": "Atom feed of status changes.", **ATOM}}, [LANG]
    ),
    "/p/{slug}/feeds/deployments.atom": operation(
        "feeds",
        "Project deployments feed",
        {"200": {"description": "Atom feed of the project's deployments.", **ATOM}, "404": FEED_NOT_FOUND},
        [PROJECT_SLUG, LANG],
    ),
    "/p/{slug}/feeds/status.atom": operation(
        "feeds",
        "Project status feed",
        {
            "200": {"description": "Atom feed of the project's status changes.", **ATOM},
            "404": FEED_NOT_FOUND,
        },
        [PROJECT_SLUG, LANG],
    ),
    "/metrics": operation(
        "operations",
        "Metrics",
        {
            "200": {
                "description": "Prometheus text exposition: checks by result and their duration, "
                "environments by light, the queue, the log's size and its checkpoint's age.",
                **TEXT,
            }
        },
    ),
    "/healthz": operation(
        "operations",
        "Health",
        {
            "200": json_answer("The database and the broker answer.", "Health"),
            "503": json_answer("The database or the broker does not answer.", "Health"),
        },
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
