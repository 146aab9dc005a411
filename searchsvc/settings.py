"""Settings of the search service: declared once, with defaults, help text and validation.

Layering (later wins):

1. the defaults declared below;
2. a config file named by the ``TROPESEARCH_CONFIG`` environment variable (TOML or JSON; keys are
   the setting names, case-insensitive; a TOML file may put them under a ``[tropesearch]`` table);
3. ``TROPESEARCH_<NAME>`` environment variables (e.g. ``TROPESEARCH_PORT=9000``);
4. the ``config`` dict given to ``create_app`` (the CLI's flags, tests).

Every value is validated at start; a bad one raises :class:`SettingsError` naming the setting,
where the value came from and the environment variable that sets it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.encoder import BACKENDS
from indexer.errors import TropesearchError

ENV_PREFIX = "TROPESEARCH_"
CONFIG_ENV = "TROPESEARCH_CONFIG"
QUERY_BACKENDS = ("auto", *BACKENDS)   # auto: see indexer.storage.resolve_query_backend
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(TropesearchError):
    """A setting has a bad value, or the config file cannot be read."""

    code = "bad_setting"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any]   # raises ValueError with a short reason

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name


# -- parsers: accept the typed value (dict/file) or a string (env) -----------------------------------
def _path(value: Any) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a directory path")
    return Path(value.strip()).expanduser()


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, str):
        raise ValueError("expected a string (or nothing)")
    value = value.strip()
    return value or None


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError("expected a host name or IP address, e.g. 127.0.0.1 or 0.0.0.0")
    return value.strip()


def _int_between(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer from {lo} to {hi}")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ValueError(f"expected an integer from {lo} to {hi}") from None
        if not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}")
        return value
    return parse


def _float_between(lo: float, hi: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number from {lo} to {hi}")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError(f"expected a number from {lo} to {hi}") from None
        if not isinstance(value, (int, float)) or not lo <= value <= hi:  # also rejects nan
            raise ValueError(f"expected a number from {lo} to {hi}")
        return float(value)
    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _choice(*choices: str, upper: bool = False) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, str):
            v = value.strip().upper() if upper else value.strip()
            if v in choices:
                return v
        raise ValueError(f"expected one of: {', '.join(choices)}")
    return parse


SETTINGS: tuple[Setting, ...] = (
    Setting("INDEX_DIR", "var/index", (
        "Index directory (holds CURRENT and versions/), as given to `tropesearch build --index-dir`."
    ), _path),
    Setting("MODEL", None, (
        "Sentence-transformers model directory; empty = the bundled all-MiniLM-L6-v2. Must be the model the "
        "index was built with."
    ), _optional_str),
    Setting("BACKEND", "auto", (
        f"Embedding backend for queries: {', '.join(QUERY_BACKENDS)}. The default, auto, takes the fastest one "
        "whose vectors agree with the published index: onnx (fp32 ONNX Runtime, the same vectors as torch, "
        "cosine >= 0.99, about 2-3x faster) for one built with torch (the build default) or onnx, onnx-int8 for "
        "one built with onnx-int8. ONNX models are exported once from the bundled weights into "
        "~/.cache/tropesearch/onnx."
    ), _choice(*QUERY_BACKENDS)),
    Setting("MODEL_THREADS", 1, (
        "CPU threads that encode each query in each process. Short queries search fastest with one thread "
        "(measured on 2 cores, dense search end to end: 9.6 ms on one thread; 9.7 ms on two, or 16.0 ms on two "
        "busy-waiting ones that slow the vector search that follows); 0 = the CPU count divided by WORKERS."
    ), _int_between(0, 256)),
    Setting("HOST", "127.0.0.1", (
        "Address `tropesearch serve` binds (0.0.0.0 = all interfaces)."
    ), _host),
    Setting("PORT", 8000, (
        "TCP port `tropesearch serve` listens on."
    ), _int_between(1, 65535)),
    Setting("WORKERS", 2, (
        "gunicorn worker processes; each loads the model and the index once."
    ), _int_between(1, 64)),
    Setting("THREADS", 4, (
        "Threads per gunicorn worker (gthread worker class)."
    ), _int_between(1, 256)),
    Setting("TIMEOUT", 60, (
        "Seconds a gunicorn worker may stay silent (a request, or the model load at start) before it is "
        "restarted."
    ), _int_between(5, 3600)),
    Setting("RELOAD_INTERVAL", 2.0, (
        "Seconds between checks of INDEX_DIR/CURRENT for a newly published version; 0 disables the watcher."
    ), _float_between(0.0, 86400.0)),
    Setting("WARM_UP", True, (
        "Run one query through a freshly loaded index before serving it, so no user query pays the model's "
        "first-call cost."
    ), _bool),
    Setting("PAGE_SIZE", 10, (
        "Results per page on the HTML search page."
    ), _int_between(1, 100)),
    Setting("MAX_BODY_BYTES", 64 * 1024, (
        "Largest request body accepted (POST /api/similar); larger bodies get 413."
    ), _int_between(1024, 16 * 1024 * 1024)),
    Setting("LOG_LEVEL", "INFO", (
        f"Log level of the service: {', '.join(LOG_LEVELS)}."
    ), _choice(*LOG_LEVELS, upper=True)),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def _read_config_file(path_text: str) -> dict[str, Any]:
    path = Path(path_text).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read the config file {path} named by {CONFIG_ENV}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise SettingsError(f"config file {path} (from {CONFIG_ENV}) is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} (from {CONFIG_ENV}) must hold an object of settings")
    if isinstance(data.get("tropesearch"), dict):
        data = data["tropesearch"]
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).upper()
        if name not in SETTINGS_BY_NAME:
            raise SettingsError(
                f"config file {path} (from {CONFIG_ENV}): unknown setting {key!r}; known settings: "
                f"{', '.join(SETTINGS_BY_NAME)}"
            )
        out[name] = value
    return out


def load_settings(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every declared setting (defaults < config file < env < `config`) and validate it.

    Returns a dict of the declared settings, plus the pass-through keys found in `config`.
    """
    environ = os.environ if environ is None else environ
    config = dict(config or {})
    values: dict[str, tuple[Any, str]] = {s.name: (s.default, "the default") for s in SETTINGS}

    config_file = config.pop("CONFIG_FILE", None) or environ.get(CONFIG_ENV)
    if config_file:
        for name, value in _read_config_file(str(config_file)).items():
            values[name] = (value, f"config file {config_file}")
    for s in SETTINGS:
        if s.env in environ:
            values[s.name] = (environ[s.env], f"environment variable {s.env}")
    extra: dict[str, Any] = {}
    for key, value in config.items():
        if key in SETTINGS_BY_NAME:
            values[key] = (value, "the app config")
        else:  # ENCODER, TESTING, Flask's own settings: passed through as they are
            extra[key] = value

    resolved: dict[str, Any] = {}
    for s in SETTINGS:
        value, origin = values[s.name]
        if value is None and s.default is None:
            resolved[s.name] = None
            continue
        try:
            resolved[s.name] = s.parse(value)
        except ValueError as exc:
            raise SettingsError(
                f"bad value {value!r} for setting {s.name} (from {origin}): {exc}. "
                f"Set it with the environment variable {s.env}, the key {s.name} in the {CONFIG_ENV} "
                f"file, or the matching command-line option."
            ) from None
    resolved.update(extra)
    return resolved


def describe_settings() -> str:
    """A plain-text table of the settings (for --help and the docs)."""
    lines = []
    for s in SETTINGS:
        lines.append(f"{s.name} (env {s.env}, default {s.default!r}): {s.help}")
    return "\n".join(lines)


__all__ = ["SETTINGS", "Setting", "SettingsError", "load_settings", "describe_settings", "CONFIG_ENV", "ENV_PREFIX"]
