"""Opening a search engine in-process for CLI commands (search, similar, eval)."""

from __future__ import annotations

from pathlib import Path


def open_engine(index_dir: Path, model: str | None = None, backend: str = "torch"):
    from embeddings import load_encoder
    from indexer.storage import load_version
    from searchsvc.engine import SearchEngine

    encoder = load_encoder(model, backend=backend)
    version = load_version(index_dir, expected_fingerprint=encoder.fingerprint)
    return SearchEngine(version, encoder)
