"""The JSON API (`/api/...`) and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).

Every error is JSON `{"error": {"code", "message"}}` (see `app.py`'s error handlers). Parameters
are validated before the index is touched, so a bad request is a 400 even while no index is loaded.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from flask import Blueprint, current_app, jsonify, request

from .errors import InvalidQueryError
from .holder import IndexHolder
from .query import GROUPS, KINDS, MAX_K, MODES, SCOPES, Query, _clean_text, check_k

api = Blueprint("api", __name__, url_prefix="/api")
ops = Blueprint("ops", __name__)

DEFAULT_K = 10
SIMILAR_BODY_FIELDS = ("text", "k")
_INT_RE = re.compile(r"[+-]?\d{1,9}")


@api.before_request
def _query_string_is_utf8() -> None:
    """Werkzeug keeps an undecodable %-escape as literal text; say so instead of searching for it."""
    try:
        unquote_to_bytes(request.query_string).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidQueryError("the query string is not valid UTF-8: %-escapes must encode UTF-8 text") from None


def holder() -> IndexHolder:
    return current_app.extensions["tropesearch"]


# -- parameter parsing ------------------------------------------------------------------------------
def int_arg(name: str, default: int, requirement: str) -> int:
    """An integer query parameter; a present but non-integer value is a 400 naming `requirement`."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw.strip()):
        raise InvalidQueryError(f"{name} must be {requirement} (got {raw[:40]!r})")
    return int(raw)


def bool_arg(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("", "1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidQueryError(f"{name} must be true or false (got {raw[:40]!r})")


def choice_arg(name: str, default: str | None, choices: tuple[str, ...]) -> str | None:
    raw = request.args.get(name)
    if raw is None or (raw == "" and default is None):
        return default
    if raw not in choices:
        raise InvalidQueryError(f"unknown {name} {raw[:40]!r}; choose one of: {', '.join(choices)}")
    return raw


def query_from_args(default_group: str = "passage", default_k: int = DEFAULT_K) -> Query:
    """A validated Query from the request's query string (shared by the API and the page)."""
    k = int_arg("k", default_k, f"an integer from 1 to {MAX_K}")
    offset = int_arg("offset", 0, "an integer >= 0")
    check_k(k, offset)
    return Query(
        text=request.args.get("q"),
        k=k,
        offset=offset,
        mode=choice_arg("mode", "hybrid", MODES),
        media=tuple(m for m in request.args.getlist("media") if m.strip()),
        trope=(request.args.get("trope") or "").strip() or None,
        kind=choice_arg("kind", None, KINDS),
        group=choice_arg("group", default_group, GROUPS),
    ).validated()


# -- search -----------------------------------------------------------------------------------------
@api.get("/search")
def search():
    """Hybrid / dense / lexical search over passages."""
    query = query_from_args()
    facets = bool_arg("facets")
    engine = holder().require_engine()
    response = engine.search(query, facets=facets)
    body = response.as_dict()
    if facets:
        body["facets"] = response.facets
    return jsonify(body)


@api.get("/passages/<passage_id>")
def passage(passage_id: str):
    return jsonify(holder().require_engine().passage(passage_id))


@api.get("/passages/<passage_id>/similar")
def passage_similar(passage_id: str):
    k = int_arg("k", DEFAULT_K, f"an integer from 1 to {MAX_K}")
    check_k(k)
    scope = choice_arg("scope", "any", SCOPES)
    return jsonify(holder().require_engine().similar(passage_id, k=k, scope=scope).as_dict())


@api.post("/similar")
def similar_text():
    """Passages like a pasted example: `{"text": "...", "k": 10}`."""
    try:
        body = json.loads(request.get_data(cache=False).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise InvalidQueryError('the request body must be a JSON object like {"text": "an example", "k": 10}')
    unknown = sorted(set(body) - set(SIMILAR_BODY_FIELDS))
    if unknown:
        raise InvalidQueryError(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                f"the body takes: {', '.join(SIMILAR_BODY_FIELDS)}")
    text = _clean_text(body.get("text"), "text")
    k = body.get("k", DEFAULT_K)
    check_k(k)
    return jsonify(holder().require_engine().similar_text(text, k=k).as_dict())


# -- tropes -----------------------------------------------------------------------------------------
@api.get("/tropes")
def tropes():
    """Autocomplete: tropes whose title or id starts with `prefix`."""
    prefix = request.args.get("prefix")
    if prefix is None or not prefix.strip():
        raise InvalidQueryError("missing prefix: pass ?prefix=... (1 to 200 characters)")
    if len(prefix.strip()) > 200:
        raise InvalidQueryError("prefix must be 1 to 200 characters")
    limit = int_arg("limit", DEFAULT_K, f"an integer from 1 to {MAX_K}")
    if not 1 <= limit <= MAX_K:
        raise InvalidQueryError(f"limit must be an integer from 1 to {MAX_K}")
    engine = holder().require_engine()
    results = engine.tropes_by_prefix(prefix, limit)
    return jsonify({"prefix": prefix.strip(), "limit": limit, "index_version": engine.version_id,
                    "results": results})


@api.get("/tropes/<trope_id>")
def trope(trope_id: str):
    return jsonify(holder().require_engine().trope(trope_id))


@api.get("/stats")
def stats():
    """What the served index holds (version, counts, model)."""
    return jsonify(holder().require_engine().stats())


@api.get("/openapi.json")
def openapi():
    from .openapi import build_spec

    return jsonify(build_spec(request.url_root.rstrip("/")))


# -- operations ---------------------------------------------------------------------------------------
@ops.get("/healthz")
def healthz():
    """The process is up (always 200 while it can answer)."""
    return jsonify({"status": "ok"})


@ops.get("/readyz")
def readyz():
    """200 once an index is loaded and warmed up; 503 (with the reason) before."""
    h = holder()
    details = h.status()
    if details["ready"]:
        return jsonify({"status": "ready", "details": details})
    error = details["last_error"] or {"code": "loading", "message": "the index is still loading"}
    return jsonify({"status": "unavailable", "error": {"code": error["code"], "message": error["message"]},
                    "details": details}), 503


@ops.get("/metrics")
def metrics():
    return current_app.extensions["tropesearch.metrics"].render()
