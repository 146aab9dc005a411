"""The Flask application factory: settings, the loaded index, the JSON API, the page, error handlers.

    app = create_app({"INDEX_DIR": "var/index"})

loads the query model and the published index version once (into
`app.extensions["tropesearch"]`, an IndexHolder that also watches for new versions), never per
request and never at import. When no index is published yet the app still starts: /healthz is
200, /readyz and the API answer 503 with the `tropesearch build` hint, and the watcher picks the
index up as soon as one is published.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from indexer.errors import CorruptIndexError, IndexError_, IndexMismatchError, NoIndexError, ParseError, TropesearchError
from indexer.storage import resolve_query_backend

from .holder import EMBEDDING_ERRORS, IndexHolder
from .metrics import Metrics
from .settings import load_settings

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
JSON_PATHS = ("/api/", "/healthz", "/readyz", "/metrics")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides the config file and TROPESEARCH_* env vars; besides the
    declared settings (see settings.py) it may carry ENCODER, an already loaded encoder (tests)."""
    settings = load_settings(config)
    app = Flask(__name__)
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_BODY_BYTES"]
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    logging.getLogger("searchsvc").setLevel(settings["LOG_LEVEL"])

    encoder = settings.get("ENCODER")
    if encoder is None:
        from embeddings import load_encoder

        threads = settings["MODEL_THREADS"] or max(1, (os.cpu_count() or 1) // settings["WORKERS"])
        backend = resolve_query_backend(settings["BACKEND"], settings["INDEX_DIR"])
        logger.info("loading the query model (%s, backend %s, %d threads)", settings["MODEL"] or "bundled",
                    backend, threads)
        encoder = load_encoder(settings["MODEL"], backend=backend, threads=threads)
    holder = IndexHolder(settings["INDEX_DIR"], encoder, reload_interval=settings["RELOAD_INTERVAL"],
                         warm_up=settings["WARM_UP"])
    app.extensions["tropesearch"] = holder
    app.extensions["tropesearch.metrics"] = Metrics(app, holder)

    from .api import api, ops
    from .pages import pages

    app.register_blueprint(api)
    app.register_blueprint(ops)
    app.register_blueprint(pages)
    _register_error_handlers(app)
    app.after_request(_security_headers)

    holder.start()
    if holder.engine is None and holder.last_error is not None:
        logger.warning("%s (the service starts anyway; /readyz is 503 until an index loads)",
                       holder.last_error["message"])
    return app


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


# -- errors ---------------------------------------------------------------------------------------------
def wants_json() -> bool:
    path = request.path
    return path.startswith(JSON_PATHS) or path in ("/api", "/healthz", "/readyz", "/metrics")


def _status_of(exc: BaseException) -> int:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    if isinstance(exc, (NoIndexError, CorruptIndexError, IndexMismatchError, IndexError_)):
        return 503
    if isinstance(exc, ParseError):
        return 400
    return 500


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
    else:
        try:
            body = render_template("error.html", status=status, code=code, message=message)
        except Exception:  # noqa: BLE001 - the error page itself failed: plain text, never a traceback
            logger.exception("rendering the error page failed")
            body = str(escape(f"{status} {code}: {message}"))
        response = Response(body, mimetype="text/html")
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(TropesearchError)
    def domain_error(exc: TropesearchError):
        status = _status_of(exc)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.path, exc)
        return error_response(status, getattr(exc, "code", "error"), str(exc))

    for cls in EMBEDDING_ERRORS:
        @app.errorhandler(cls)
        def embedding_error(exc: Exception):
            logger.error("%s %s: embedding model error: %s", request.method, request.path, exc)
            return error_response(503, "model_error", f"the query model failed: {exc}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_").replace("-", "_")
        message = exc.description or exc.name
        headers = {}
        if status == 404 and wants_json():
            message = f"no such endpoint: {request.method} {request.path} (the API is described at /api/openapi.json)"
        elif isinstance(exc, MethodNotAllowed):
            allowed = sorted(set(exc.valid_methods or []) - {"HEAD", "OPTIONS"})
            message = f"{request.method} is not allowed on {request.path}; use {', '.join(allowed) or 'another method'}"
            headers["Allow"] = ", ".join(exc.valid_methods or [])
        elif status == 413:
            message = f"request body too large (the limit is {app.config['MAX_CONTENT_LENGTH']} bytes)"
        if status >= 500:
            logger.error("%s %s: %s", request.method, request.path, exc)
        return error_response(status, code, message, headers)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error",
                              "internal server error; the details are in the service log")


__all__ = ["create_app", "CONTENT_SECURITY_POLICY"]
