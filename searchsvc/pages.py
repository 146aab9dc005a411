"""The server-rendered search page (works without JavaScript), the trope view and "more like this".

Everything is autoescaped by Jinja; the one exception is the engine's snippet, which
`textmatch.Highlighter` builds by escaping the text and only then adding `<mark>` tags.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from flask import Blueprint, current_app, render_template, request, url_for

from .api import choice_arg, holder, int_arg, query_from_args
from .errors import InvalidQueryError, ServiceUnavailableError
from .query import MAX_K, SCOPES, check_k

pages = Blueprint("pages", __name__)

MODE_LABELS = {"hybrid": "Hybrid", "dense": "Meaning", "lexical": "Keywords"}
SCOPE_LABELS = {"any": "Anywhere", "same-trope": "Same trope", "other-tropes": "Other tropes"}
KIND_LABELS = {"description": "description", "quote": "quote", "example": "example"}
EXAMPLE_QUERIES = (
    "aliens seduce humans",
    "a hero who falls for a creature from another species",
    "captain kisses the alien queen",
    "love across species",
)


# -- template helpers --------------------------------------------------------------------------------
def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL, else None (no javascript: links from the corpus)."""
    if not url or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url.strip()
    return None


def search_url(**changes) -> str:
    """The current search page URL with some parameters changed (None removes one); offset resets
    unless given."""
    args = request.args.to_dict(flat=False)
    if "offset" not in changes:
        args.pop("offset", None)
    for key, value in changes.items():
        if value is None or value == []:
            args.pop(key, None)
        else:
            args[key] = list(value) if isinstance(value, (list, tuple)) else [value]
    return url_for("pages.index", **args)


def toggle_media_url(media: str) -> str:
    selected = [m for m in request.args.getlist("media") if m.strip()]
    if media in selected:
        selected = [m for m in selected if m != media]
    else:
        selected = selected + [media]
    return search_url(media=selected)


def excerpt(text: str | None, limit: int = 240) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit] + "\u2026"


@pages.record_once
def _register_globals(state) -> None:
    # globals, not a context processor, so that imported macros see them too
    state.app.jinja_env.globals.update(
        search_url=search_url, toggle_media_url=toggle_media_url, safe_url=safe_url, excerpt=excerpt,
        MODE_LABELS=MODE_LABELS, SCOPE_LABELS=SCOPE_LABELS, KIND_LABELS=KIND_LABELS,
    )


@pages.app_context_processor
def _served_engine():
    h = current_app.extensions.get("tropesearch")
    return {"served_engine": h.engine if h is not None else None}


# -- views ---------------------------------------------------------------------------------------------
@pages.get("/")
def index():
    q_text = (request.args.get("q") or "").strip()
    page_size = current_app.config["PAGE_SIZE"]
    selected_media = [m for m in request.args.getlist("media") if m.strip()]
    ctx = {
        "q": q_text, "mode": request.args.get("mode") or "hybrid", "group": request.args.get("group") or "trope",
        "selected_media": selected_media, "trope_filter": (request.args.get("trope") or "").strip() or None,
        "kind": request.args.get("kind") or None, "response": None, "facets": {}, "did_you_mean": None,
        "error": None, "page_size": page_size, "examples": EXAMPLE_QUERIES,
    }
    if ctx["mode"] not in MODE_LABELS:
        ctx["mode"] = "hybrid"
    if ctx["group"] not in ("trope", "passage"):
        ctx["group"] = "trope"
    if not q_text:
        return render_template("search.html", **ctx)
    try:
        query = query_from_args(default_group="trope", default_k=page_size)
    except InvalidQueryError as exc:
        ctx["error"] = str(exc)
        return render_template("search.html", **ctx), 400
    ctx.update(mode=query.mode, group=query.group, kind=query.kind)
    engine = holder().engine   # read once: this request finishes on this engine even if a swap happens
    if engine is None:
        try:
            holder().require_engine()
        except ServiceUnavailableError as exc:
            ctx["error"] = str(exc)
        return render_template("search.html", **ctx), 503
    response = engine.search(query, facets=query.group == "passage")
    if query.group == "passage":
        facets = response.facets
    else:
        # grouped by trope, the engine's facets would count only each trope's best passage; count
        # the matching passages instead (the query vector is cached: this costs one ranking)
        facets = engine.search(replace(query, group="passage", k=1, offset=0), facets=True).facets
    ctx["response"] = response
    ctx["facets"] = facets.get("media", {})
    if query.offset == 0 and not query.trope:
        ctx["did_you_mean"] = engine.trope_named(query.text)
    ctx["query"] = query
    return render_template("search.html", **ctx)


@pages.get("/tropes/<trope_id>")
def trope(trope_id: str):
    engine = holder().require_engine()
    data = engine.trope(trope_id)
    known = getattr(engine, "trope_rows_by_id", {})
    related = []
    for item in data.get("related") or []:
        if isinstance(item, dict):
            text, target = item.get("text") or item.get("target"), item.get("target")
        else:
            text, target = str(item), str(item)
        target_id = (target or "").rsplit("/", 1)[-1]
        related.append({"text": text, "local": target_id if target_id.lower() in known else None})
    return render_template("trope.html", trope=data, related=related, engine=engine)


@pages.get("/similar/<passage_id>")
def similar(passage_id: str):
    k = int_arg("k", current_app.config["PAGE_SIZE"], f"an integer from 1 to {MAX_K}")
    check_k(k)
    scope = choice_arg("scope", "any", SCOPES)
    engine = holder().require_engine()
    source = engine.passage(passage_id)
    response = engine.similar(passage_id, k=k, scope=scope)
    return render_template("similar.html", source=source, response=response, scope=scope, k=k)
