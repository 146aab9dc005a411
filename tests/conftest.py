"""Shared fixtures: the real bundled model, a tiny index over a few sample pages, app/client/runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SHARED = REPO.parent / "shared"
SHARED_CORPUS = SHARED / "corpus"

# The tiny index: the three seed pages (two formats of one trope + Boldly Coming) and the JSONL sample.
TINY_SOURCES = ("seeds", "tropes.jsonl")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def model_path():
    from embeddings import resolve_model_path

    return resolve_model_path(None)


@pytest.fixture(scope="session")
def token_counter(model_path):
    from embeddings import TokenCounter

    return TokenCounter(model_path)


@pytest.fixture(scope="session")
def encoder(model_path):
    """The real all-MiniLM-L6-v2 from the bundled package, loaded once per test session."""
    from embeddings import load_encoder

    return load_encoder(str(model_path))


@pytest.fixture(scope="session")
def tiny_sources(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("tiny-sources")
    for name in TINY_SOURCES:
        src = SAMPLE / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        else:
            shutil.copy(src, root / name)
    return [root / name for name in TINY_SOURCES]


@pytest.fixture(scope="session")
def tiny_index_dir(tmp_path_factory, tiny_sources) -> Path:
    """A published index over TINY_SOURCES, built once per session with the real model."""
    from indexer.build import BuildOptions, build_index

    index_dir = tmp_path_factory.mktemp("tiny-index")
    build_index(BuildOptions(sources=tiny_sources, index_dir=index_dir, backend="torch"))
    return index_dir


@pytest.fixture(scope="session")
def tiny_version(tiny_index_dir):
    from indexer.storage import load_version

    return load_version(tiny_index_dir)


@pytest.fixture(scope="session")
def engine(tiny_version, encoder):
    from searchsvc.engine import SearchEngine

    return SearchEngine(tiny_version, encoder)
