"""The loaded index and its live swap: one `IndexHolder` per process (per app).

The holder owns the query encoder (loaded once) and the current `SearchEngine`. A daemon thread
reads `INDEX_DIR/CURRENT` every `reload_interval` seconds; when it names a new version, that
version is loaded (checked against the encoder's fingerprint), a new engine is built and warmed
up, all in the background, and only then is `holder.engine` replaced — one reference
assignment, atomic under the GIL. A request reads `holder.engine` once and keeps using that
engine, so requests in flight finish on the old version. A version that fails to load (corrupt,
built with another model) is logged, reported by `status()` (and /readyz), and the service
keeps serving the last good version.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.errors import EmbeddingsError
from indexer.errors import NoIndexError, TropesearchError
from indexer.storage import current_version_id, load_version

from .engine import EngineSettings, SearchEngine
from .errors import ServiceUnavailableError

logger = logging.getLogger(__name__)


EMBEDDING_ERRORS: tuple[type[BaseException], ...] = (EmbeddingsError,)  # the embeddings package's error base


class LockedEncoder:
    """Serialises `encode` calls: a HF tokenizer is not safe to use from several threads at once
    ("Already borrowed"), and on a CPU one batch at a time is as fast anyway. Other attributes
    (fingerprint, name, dim...) are the wrapped encoder's."""

    def __init__(self, encoder: Any):
        self._encoder = encoder
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *args: Any, **kwargs: Any) -> np.ndarray:
        with self._lock:
            return self._encoder.encode(texts, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)


class IndexHolder:
    """The current SearchEngine of a process, swapped live when a new index version is published."""

    def __init__(self, index_dir: Path | str, encoder: Any, *, reload_interval: float = 2.0, warm_up: bool = True,
                 engine_settings: EngineSettings | None = None,
                 on_swap: Callable[[SearchEngine], None] | None = None):
        self.index_dir = Path(index_dir)
        self.encoder = encoder if isinstance(encoder, LockedEncoder) else LockedEncoder(encoder)
        self.reload_interval = float(reload_interval)
        self.warm_up = warm_up
        self.engine_settings = engine_settings
        self.on_swap = on_swap
        self._engine: SearchEngine | None = None
        self._load_lock = threading.Lock()          # one load at a time (watcher vs check_now)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: dict | None = None         # {"version", "code", "message", "at"}
        self._failed_version: str | None = None     # a version that failed is not retried
        self.last_check: float | None = None
        self.loaded_at: float | None = None
        self.reloads = {"ok": 0, "error": 0}

    # -- reading --------------------------------------------------------------------------------
    @property
    def engine(self) -> SearchEngine | None:
        """The current engine (None before the first version is loaded). Read it once per request."""
        return self._engine

    def require_engine(self) -> SearchEngine:
        """The current engine, or ServiceUnavailableError (503) saying why there is none."""
        engine = self._engine
        if engine is not None:
            return engine
        if self.last_error is not None:
            code, message = self.last_error["code"], self.last_error["message"]
        else:
            code, message = NoIndexError.code, (f"no index published under {self.index_dir}; run "
                                                f"`tropesearch build SOURCES --index-dir {self.index_dir}`")
        error = ServiceUnavailableError(message)
        error.code = code
        raise error

    @property
    def ready(self) -> bool:
        return self._engine is not None

    def status(self) -> dict:
        engine = self._engine
        out: dict[str, Any] = {
            "ready": engine is not None,
            "index_dir": str(self.index_dir),
            "index_version": engine.version_id if engine else None,
            "passages": engine.version.count if engine else None,
            "published_version": self._published_or_none(),
            "model": getattr(self.encoder, "name", None),
            "model_fingerprint": getattr(self.encoder, "fingerprint", None),
            "warmed_up": bool(engine is not None and self.warm_up),
            "watching": self._thread is not None and self._thread.is_alive(),
            "reload_interval": self.reload_interval,
            "reloads": dict(self.reloads),
            "last_error": self.last_error,
        }
        return out

    def _published_or_none(self) -> str | None:
        try:
            return current_version_id(self.index_dir)
        except (OSError, TropesearchError):
            return None  # check_now records why

    # -- loading ----------------------------------------------------------------------------------
    def check_now(self) -> bool:
        """Load the published version if it is not the one served. True when the engine changed.

        Never raises for a bad index: the error is recorded in `last_error` and the last good
        engine stays. Synchronous (tests call it instead of waiting for the watcher).
        """
        with self._load_lock:
            self.last_check = time.time()
            try:
                published = current_version_id(self.index_dir)
            except (OSError, TropesearchError) as exc:
                self._record_error(None, "index_unreadable", str(exc))
                return False
            current = self._engine.version_id if self._engine is not None else None
            if published is None:
                if current is None:
                    self._record_error(None, NoIndexError.code, (
                        f"no index published under {self.index_dir}; run "
                        f"`tropesearch build SOURCES --index-dir {self.index_dir}`"), log=False)
                return False
            if published == current or published == self._failed_version:
                return False
            return self._load(published)

    def _load(self, version_id: str) -> bool:
        t0 = time.perf_counter()
        try:
            version = load_version(self.index_dir, version_id,
                                   expected_fingerprint=getattr(self.encoder, "fingerprint", None),
                                   query_backend=getattr(self.encoder, "backend", None))
            engine = SearchEngine(version, self.encoder, self.engine_settings)
            if self.warm_up:
                engine.warm_up()
        except (TropesearchError, *EMBEDDING_ERRORS) as exc:
            self._failed_version = version_id
            self.reloads["error"] += 1
            self._record_error(version_id, getattr(exc, "code", "load_failed"), str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a bad version must never take the service down
            self._failed_version = version_id
            self.reloads["error"] += 1
            logger.exception("loading index version %s failed", version_id)
            self._record_error(version_id, "load_failed", f"loading index version {version_id} failed: {exc!r}",
                               log=False)
            return False
        previous = self._engine
        self._engine = engine           # the swap: requests that already hold `previous` finish on it
        self._failed_version = None
        self.last_error = None
        self.loaded_at = time.time()
        self.reloads["ok"] += 1
        logger.info("serving index version %s from %s (%d passages, loaded in %.2f s)%s", version_id,
                    self.index_dir, version.count, time.perf_counter() - t0,
                    f"; was {previous.version_id}" if previous is not None else "")
        if self.on_swap is not None:
            try:
                self.on_swap(engine)
            except Exception:  # noqa: BLE001
                logger.exception("on_swap hook failed")
        return True

    def _record_error(self, version_id: str | None, code: str, message: str, log: bool = True) -> None:
        self.last_error = {"version": version_id, "code": code, "message": message, "at": time.time()}
        if log:
            if self._engine is not None:
                logger.error("index version %s not loaded, still serving %s: %s", version_id,
                             self._engine.version_id, message)
            else:
                logger.error("index version %s not loaded: %s", version_id, message)

    # -- the watcher ------------------------------------------------------------------------------
    def start(self) -> "IndexHolder":
        """Load the published version now (if any) and start the watcher thread."""
        self.check_now()
        if self.reload_interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name=f"tropesearch-index-watcher:{self.index_dir}",
                                            daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval):
            try:
                self.check_now()
            except Exception:  # noqa: BLE001 - the watcher must survive anything
                logger.exception("index watcher check failed")

    def close(self) -> None:
        """Stop the watcher thread (the engine stays usable until dropped)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, self.reload_interval * 2))


__all__ = ["IndexHolder", "LockedEncoder", "EMBEDDING_ERRORS"]
