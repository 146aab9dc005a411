"""The OpenAPI 3 description of the JSON API, served at /api/openapi.json.

Kept next to the code it describes: tests check that every route of the app is described here
with its methods, and that every parameter the views read is listed.
"""

from __future__ import annotations

from .query import GROUPS, KINDS, MAX_DEPTH, MAX_K, MAX_QUERY_CHARS, MODES, SCOPES

OPENAPI_VERSION = "3.0.3"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


def _param(name: str, where: str, schema: dict, description: str, required: bool = False, **extra) -> dict:
    out = {"name": name, "in": where, "required": required, "description": description, "schema": schema}
    out.update(extra)
    return out


K_PARAM = _param("k", "query", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                 f"Number of results (1 to {MAX_K}).")
PASSAGE_ID = _param("passage_id", "path", {"type": "string", "maxLength": 64}, "A passage id (from a search result).",
                    required=True)
TROPE_ID = _param("trope_id", "path", {"type": "string"}, "A trope id, e.g. `BoldlyComing` (case-insensitive).",
                  required=True)

SEARCH_PARAMS = [
    _param("q", "query", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
           f"The query text (1 to {MAX_QUERY_CHARS} characters after whitespace is collapsed).", required=True),
    K_PARAM,
    _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0},
           f"Results to skip (paging); offset + k must be at most {MAX_DEPTH}."),
    _param("mode", "query", {"type": "string", "enum": list(MODES), "default": "hybrid"},
           "hybrid: meaning and keywords fused (reciprocal rank fusion); dense: by meaning (embeddings); "
           "lexical: by keywords (BM25)."),
    _param("media", "query", {"type": "array", "items": {"type": "string"}},
           "Only passages of these media (repeat the parameter for several, e.g. `media=Film&media=Literature`); "
           "case-insensitive.", style="form", explode=True),
    _param("trope", "query", {"type": "string"}, "Only passages of this trope id."),
    _param("kind", "query", {"type": "string", "enum": list(KINDS)}, "Only passages of this kind."),
    _param("group", "query", {"type": "string", "enum": list(GROUPS), "default": "passage"},
           "passage: every matching passage (near-duplicates collapsed); trope: the best passage of each trope."),
    _param("facets", "query", {"type": "boolean", "default": False},
           "Also return `facets.media`: result counts per media for the query without its media filter."),
]

SCHEMAS: dict = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable: invalid_query, not_found, no_index, "
                                                          "method_not_allowed, internal_error, ..."},
                "message": {"type": "string", "description": "What went wrong and how to fix it."},
            },
        }},
    },
    "TropeRef": {
        "type": "object", "required": ["id", "title", "url"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"},
            "url": {"type": "string", "nullable": True, "description": "The trope's TV Tropes page."},
        },
    },
    "Result": {
        "type": "object", "required": ["rank", "id", "score", "trope", "kind", "media", "work", "text", "snippet"],
        "properties": {
            "rank": {"type": "integer", "minimum": 1, "description": "1-based rank over all pages (offset + position)."},
            "id": {"type": "string", "description": "Passage id."},
            "score": {"type": "number", "description": "Cosine (dense), BM25 (lexical) or fused RRF score (hybrid)."},
            "trope": _ref("TropeRef"),
            "kind": {"type": "string", "enum": list(KINDS)},
            "media": {"type": "string", "nullable": True},
            "work": {"type": "string", "nullable": True},
            "text": {"type": "string", "description": "The passage text (plain, not escaped)."},
            "snippet": {"type": "string", "description": "HTML: the text escaped, cut around the first match, with "
                                                         "matched terms in <mark>."},
        },
    },
    "SearchResponse": {
        "type": "object", "required": ["query", "mode", "k", "offset", "total", "took_ms", "index_version", "results"],
        "properties": {
            "query": {"type": "string", "description": "The query as searched (whitespace collapsed); for similar "
                                                       "passages, the source passage's text."},
            "mode": {"type": "string", "enum": [*MODES, "similar"]},
            "k": {"type": "integer"}, "offset": {"type": "integer"},
            "total": {"type": "integer", "description": "Ranked matches reachable by paging (at most "
                                                        f"{MAX_DEPTH} per leg)."},
            "took_ms": {"type": "number"},
            "index_version": {"type": "string", "description": "The index version that answered."},
            "results": {"type": "array", "items": _ref("Result")},
            "facets": {"type": "object", "description": "Only with facets=true.",
                       "properties": {"media": {"type": "object", "additionalProperties": {"type": "integer"}}}},
        },
    },
    "Passage": {
        "type": "object",
        "required": ["id", "trope", "kind", "media", "work", "text", "parent_id", "source", "position", "part", "tokens"],
        "properties": {
            "id": {"type": "string"}, "trope": _ref("TropeRef"), "kind": {"type": "string", "enum": list(KINDS)},
            "media": {"type": "string", "nullable": True}, "work": {"type": "string", "nullable": True},
            "text": {"type": "string"},
            "parent_id": {"type": "string", "nullable": True, "description": "The example this one is nested under."},
            "source": {"type": "string", "description": "The file it was parsed from."},
            "position": {"type": "integer"}, "part": {"type": "integer", "description": "Chunk number of a long text."},
            "tokens": {"type": "integer"},
        },
    },
    "Trope": {
        "type": "object",
        "required": ["id", "title", "url", "description", "quote", "related", "example_counts", "examples"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "url": {"type": "string", "nullable": True},
            "description": {"type": "array", "items": {"type": "string"}, "description": "Paragraphs."},
            "quote": {"type": "string", "nullable": True},
            "related": {"type": "array", "items": {"type": "object", "properties": {
                "text": {"type": "string"}, "target": {"type": "string", "nullable": True}}}},
            "example_counts": {"type": "object", "additionalProperties": {"type": "integer"},
                               "description": "Examples per media."},
            "examples": {"type": "integer"},
        },
    },
    "TropeList": {
        "type": "object", "required": ["prefix", "limit", "index_version", "results"],
        "properties": {"prefix": {"type": "string"}, "limit": {"type": "integer"}, "index_version": {"type": "string"},
                       "results": {"type": "array", "items": _ref("TropeRef")}},
    },
    "SimilarRequest": {
        "type": "object", "required": ["text"], "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "description": "A pasted example."},
            "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
        },
    },
    "Stats": {
        "type": "object", "required": ["version", "passages", "tropes", "index_type", "model", "built_at"],
        "properties": {"version": {"type": "string"}, "passages": {"type": "integer"}, "tropes": {"type": "integer"},
                       "index_type": {"type": "string"}, "model": {"type": "string"}, "built_at": {"type": "string"}},
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}},
    "ServiceStatus": {
        "type": "object",
        "properties": {
            "ready": {"type": "boolean"}, "index_dir": {"type": "string"},
            "index_version": {"type": "string", "nullable": True}, "passages": {"type": "integer", "nullable": True},
            "published_version": {"type": "string", "nullable": True,
                                  "description": "What INDEX_DIR/CURRENT names now (may be newer than the served one)."},
            "model": {"type": "string", "nullable": True}, "model_fingerprint": {"type": "string", "nullable": True},
            "warmed_up": {"type": "boolean"}, "watching": {"type": "boolean"}, "reload_interval": {"type": "number"},
            "reloads": {"type": "object", "properties": {"ok": {"type": "integer"}, "error": {"type": "integer"}}},
            "last_error": {"type": "object", "nullable": True, "description": "Why the last load failed (the service "
                           "keeps serving the last good version).",
                           "properties": {"version": {"type": "string", "nullable": True}, "code": {"type": "string"},
                                          "message": {"type": "string"}, "at": {"type": "number"}}},
        },
    },
    "Ready": {
        "type": "object", "required": ["status", "details"],
        "properties": {"status": {"type": "string", "enum": ["ready", "unavailable"]},
                       "error": {"type": "object", "properties": {"code": {"type": "string"},
                                                                  "message": {"type": "string"}}},
                       "details": _ref("ServiceStatus")},
    },
}

BAD_REQUEST = _error("Invalid parameter (missing/empty/too long query, k out of range, bad offset, unknown "
                     "mode/group/kind/scope, malformed body).")
NOT_FOUND = _error("Unknown id.")
UNAVAILABLE = _error("No index loaded yet (e.g. none published: run `tropesearch build ...`), or the model failed.")
SERVER_ERROR = _error("Unexpected error (details in the service log).")


def _responses(ok: dict, *, bad: bool = True, missing: bool = False, index: bool = True) -> dict:
    out = {"200": ok}
    if bad:
        out["400"] = BAD_REQUEST
    if missing:
        out["404"] = NOT_FOUND
    out["405"] = _error("Method not allowed (see the Allow header).")
    if index:
        out["503"] = UNAVAILABLE
    out["500"] = SERVER_ERROR
    return out


def build_spec(server_url: str | None = None) -> dict:
    try:
        from importlib.metadata import version

        app_version = version("tropesearch")
    except Exception:  # noqa: BLE001 - not installed (source checkout)
        app_version = "0.1.0"
    paths = {
        "/api/search": {"get": {
            "operationId": "search", "tags": ["search"], "summary": "Search passages",
            "description": "Semantic (dense), keyword (lexical) or hybrid search over trope descriptions, quotes "
                           "and examples, with filters and paging.",
            "parameters": SEARCH_PARAMS,
            "responses": _responses(_json(_ref("SearchResponse"), "Ranked results.")),
        }},
        "/api/passages/{passage_id}": {"get": {
            "operationId": "getPassage", "tags": ["passages"], "summary": "One passage",
            "parameters": [PASSAGE_ID],
            "responses": _responses(_json(_ref("Passage"), "The passage."), bad=False, missing=True),
        }},
        "/api/passages/{passage_id}/similar": {"get": {
            "operationId": "similarPassages", "tags": ["passages"], "summary": "Passages similar to a passage",
            "description": "Nearest passages by the stored embedding; never the passage itself or a copy of its text.",
            "parameters": [PASSAGE_ID, K_PARAM, _param(
                "scope", "query", {"type": "string", "enum": list(SCOPES), "default": "any"},
                "any: anywhere; same-trope: only the passage's trope; other-tropes: only other tropes.")],
            "responses": _responses(_json(_ref("SearchResponse"), "Similar passages (mode `similar`)."), missing=True),
        }},
        "/api/similar": {"post": {
            "operationId": "similarToText", "tags": ["passages"], "summary": "Passages similar to a pasted example",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("SimilarRequest")}}},
            "responses": {**_responses(_json(_ref("SearchResponse"), "Similar passages (dense search).")),
                          "413": _error("Body too large.")},
        }},
        "/api/tropes": {"get": {
            "operationId": "tropesByPrefix", "tags": ["tropes"], "summary": "Autocomplete trope names",
            "parameters": [
                _param("prefix", "query", {"type": "string", "minLength": 1, "maxLength": 200},
                       "Start of a trope title or id (case-insensitive).", required=True),
                _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                       "Most tropes to return."),
            ],
            "responses": _responses(_json(_ref("TropeList"), "Matching tropes, shortest titles first.")),
        }},
        "/api/tropes/{trope_id}": {"get": {
            "operationId": "getTrope", "tags": ["tropes"], "summary": "One trope",
            "parameters": [TROPE_ID],
            "responses": _responses(_json(_ref("Trope"), "The trope."), bad=False, missing=True),
        }},
        "/api/stats": {"get": {
            "operationId": "stats", "tags": ["service"], "summary": "The served index version and its size",
            "responses": _responses(_json(_ref("Stats"), "Index statistics."), bad=False),
        }},
        "/api/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["service"], "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3 document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
        "/healthz": {"get": {
            "operationId": "healthz", "tags": ["service"], "summary": "Liveness: the process is up",
            "responses": {"200": _json(_ref("Health"), "Always, while the process answers.")},
        }},
        "/readyz": {"get": {
            "operationId": "readyz", "tags": ["service"], "summary": "Readiness: an index is loaded and warmed up",
            "responses": {"200": _json(_ref("Ready"), "Ready to answer searches."),
                          "503": _json(_ref("Ready"), "Not ready: no index published, or it failed to load "
                                                      "(details.last_error says why).")},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["service"], "summary": "Prometheus metrics",
            "description": "Request counts (tropesearch_http_requests_total) and latency histograms "
                           "(tropesearch_http_request_duration_seconds) by endpoint and status; index version "
                           "info, passage count, readiness and reloads. Per process (per gunicorn worker).",
            "responses": {"200": {"description": "Prometheus text exposition format.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
    }
    spec = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "tropesearch API", "version": app_version,
            "description": "Semantic search over TV Tropes pages. Errors are JSON `{\"error\": {\"code\", "
                           "\"message\"}}` with the HTTP status. Text from TV Tropes, CC BY-NC-SA 3.0.",
            "license": {"name": "MIT (code); data CC BY-NC-SA 3.0"},
        },
        "tags": [{"name": "search"}, {"name": "passages"}, {"name": "tropes"}, {"name": "service"}],
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if server_url:
        spec["servers"] = [{"url": server_url}]
    return spec


__all__ = ["build_spec"]
