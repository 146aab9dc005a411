"""WSGI entry point for gunicorn (or any WSGI server).

    gunicorn 'searchsvc.wsgi:create_app()'        # a factory call: one app per worker
    gunicorn searchsvc.wsgi:app                    # the same: `app` is created on first access

Settings come from TROPESEARCH_CONFIG / TROPESEARCH_* env vars (see searchsvc/settings.py).
Importing this module loads nothing: the model and index are loaded when the app is created,
once in each worker (preload_app must stay off, so every worker owns its model and index).
"""

from __future__ import annotations

import threading
from typing import Any

from .app import create_app

_lock = threading.Lock()
_app = None


def get_app():
    """The process's app, created once (from the environment's settings)."""
    global _app
    with _lock:
        if _app is None:
            _app = create_app()
        return _app


def __getattr__(name: str) -> Any:  # PEP 562: `searchsvc.wsgi:app` creates the app lazily
    if name in ("app", "application"):
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app", "get_app"]
