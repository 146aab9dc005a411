"""Offline index builds: sources -> pages -> tropes -> passages -> embeddings -> a published version.

One build at a time per index directory (a lock file). The new version is written to a temporary
directory and published by switching `CURRENT` only once everything is on disk; a build that dies
at any point leaves the published version as it was. Embeddings come from a cache keyed by model
fingerprint and passage text, so a rebuild only encodes passages whose text changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path

import numpy as np

from embeddings.cache import EmbeddingCache, encode_with_cache
from embeddings.compat import DEFAULT_BACKEND, embedding_space
from embeddings.tokens import TokenCounter

from .encoding import LazyEncoder
from .chunking import ChunkSettings, Chunker, Passage, chunk_tropes
from .errors import ParseError, TropesearchError
from .merge import merge_pages
from .page import Format
from .parse import parse_sources
from .storage import (FORMAT_VERSION, list_versions, new_version_id, prune_versions, publish_version)
from .vector_index import NumpyIndex, build_vector_index, recall_at_k
from .writer import finalize_version_dir, make_temp_version_dir, write_version

logger = logging.getLogger(__name__)

CACHE_DIR = "cache"
CACHE_FILE = "embeddings.sqlite"
LOCK_FILE = ".build.lock"


class BuildError(TropesearchError):
    code = "build_error"


class NothingToIndexError(BuildError):
    code = "nothing_indexed"


class BuildLockedError(BuildError):
    code = "build_locked"


@dataclass
class BuildOptions:
    sources: Sequence[str | Path]
    index_dir: Path
    format: Format | str | None = None
    manifest: str | Path | None = None
    model: str | None = None
    backend: str = DEFAULT_BACKEND
    index_type: str = "auto"
    batch_size: int = 64
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    keep_versions: int = 3
    max_page_bytes: int = 16 * 1024 * 1024
    # progress hooks (the CLI wires tqdm bars to these)
    on_files: Callable[[int], None] | None = None        # total files to parse
    on_file: Callable[[Path], None] | None = None        # one file parsed
    on_embed_start: Callable[[int], None] | None = None  # passages to embed (reused + encoded)
    on_embedded: Callable[[int], None] | None = None     # n more done (reused or encoded)


@dataclass
class BuildSummary:
    version_id: str
    index_dir: Path
    pages: int
    tropes: int
    passages: int
    by_kind: dict[str, int]
    by_media: dict[str, int]
    skipped: list[tuple[str, str]]
    ignored: list[str]
    computed: int
    reused: int
    index_type: str
    recall_at_10: float | None
    seconds: float
    stage_seconds: dict[str, float]
    manifest: dict


def tropesearch_version() -> str:
    try:
        return package_version("tropesearch")
    except PackageNotFoundError:
        return "0+unknown"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _BuildLock:
    def __init__(self, index_dir: Path):
        self.path = index_dir / LOCK_FILE
        self.fh = None

    def __enter__(self):
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise BuildLockedError(f"another build is running on {self.path.parent}; wait for it to finish") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _stage(name: str) -> None:
    logger.info("build stage: %s", name)


def build_index(opts: BuildOptions) -> BuildSummary:
    """Run a whole build and publish it. Raises NothingToIndexError when no page could be indexed."""
    t0 = time.perf_counter()
    index_dir = Path(opts.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _BuildLock(index_dir):
        try:
            return _build_locked(opts, index_dir, t0)
        except (OSError, sqlite3.Error, RuntimeError) as exc:
            # disk full, permissions, a FAISS write error: the published version is untouched
            detail = " ".join(str(exc).split())[:300]
            raise BuildError(f"could not write the new version ({type(exc).__name__}: {detail}); "
                             f"the published version in {index_dir} is unchanged") from exc


def _build_locked(opts: BuildOptions, index_dir: Path, t0: float) -> "BuildSummary":
    stages: dict[str, float] = {}
    _stage("parsing")
    t = time.perf_counter()
    report = parse_sources(
        opts.sources, opts.format, manifest=opts.manifest, max_bytes=opts.max_page_bytes,
        progress=opts.on_file, on_files=opts.on_files,
    )
    skipped = [(e.source or "?", str(e)) for e in report.skipped]
    stages["parse"] = time.perf_counter() - t
    if not report.pages:
        reasons = "; ".join(msg for _, msg in skipped[:5]) or "no page files found"
        raise NothingToIndexError(f"nothing could be indexed from {', '.join(map(str, opts.sources))}: {reasons}")

    _stage("chunking")
    t = time.perf_counter()
    encoder = LazyEncoder(opts.model, backend=opts.backend)
    counter = TokenCounter(encoder.path)
    settings = ChunkSettings(**{**opts.chunking.as_dict(), "max_tokens": min(opts.chunking.max_tokens, counter.max_tokens)})
    tropes = merge_pages(report.pages)
    passages: list[Passage] = chunk_tropes(tropes, Chunker(counter, settings))
    passages = _drop_duplicate_ids(passages)
    stages["chunk"] = time.perf_counter() - t
    if not passages:
        raise NothingToIndexError("the pages parsed but produced no passages (no description or examples)")

    _stage("embedding")
    t = time.perf_counter()
    cache = EmbeddingCache(index_dir / CACHE_DIR / CACHE_FILE)
    if opts.on_embed_start is not None:
        opts.on_embed_start(len(passages))  # progress then counts reused passages first, then encoded ones
    try:
        vectors, computed, reused = encode_with_cache(
            encoder, [p.embed_text for p in passages], cache, batch_size=opts.batch_size,
            progress=opts.on_embedded,
        )
    finally:
        cache.close()
    stages["embed"] = time.perf_counter() - t

    _stage("indexing")
    t = time.perf_counter()
    index = build_vector_index(vectors, opts.index_type)
    recall = _ann_recall(index, vectors) if index.index_type != "flat" else None
    stages["index"] = time.perf_counter() - t

    version_id = new_version_id()
    manifest = {
        "format_version": FORMAT_VERSION,
        "tropesearch_version": tropesearch_version(),
        "version_id": version_id,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {
            "name": encoder.name, "fingerprint": encoder.fingerprint, "dim": int(vectors.shape[1]),
            "backend": encoder.backend, "space": embedding_space(encoder.backend), "max_tokens": counter.max_tokens,
        },
        "metric": "inner_product",  # on L2-normalised vectors: cosine similarity
        "index": {"type": index.index_type, "requested": opts.index_type, "params": index.params(),
                  "recall_at_10": recall},
        "chunking": settings.as_dict(),
        "counts": {
            "pages": len(report.pages), "tropes": len(tropes), "passages": len(passages),
            "by_kind": dict(Counter(p.kind for p in passages)),
            "by_media": dict(Counter(p.media for p in passages if p.media)),
            "skipped_files": len(skipped),
        },
        "sources": {str(f): file_sha256(f) for f in report.files},
        "embeddings": {"computed": computed, "reused": reused},
    }

    _stage("writing")
    t = time.perf_counter()
    tmp = make_temp_version_dir(index_dir)
    try:
        manifest = write_version(tmp, tropes, passages, vectors, index, manifest)
        finalize_version_dir(tmp, version_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    stages["write"] = time.perf_counter() - t

    _stage("publishing")
    publish_version(index_dir, version_id)
    removed = prune_versions(index_dir, opts.keep_versions)
    if removed:
        logger.info("pruned old versions: %s", ", ".join(removed))
    _stage("done")
    manifest["build_seconds"] = round(time.perf_counter() - t0, 3)
    return BuildSummary(
        version_id=version_id, index_dir=index_dir, pages=len(report.pages), tropes=len(tropes),
        passages=len(passages), by_kind=manifest["counts"]["by_kind"], by_media=manifest["counts"]["by_media"],
        skipped=skipped, ignored=report.ignored, computed=computed, reused=reused,
        index_type=index.index_type, recall_at_10=recall, seconds=time.perf_counter() - t0,
        stage_seconds=stages, manifest=manifest,
    )


def _drop_duplicate_ids(passages: list[Passage]) -> list[Passage]:
    """Two inputs of one trope can yield the same passage; it is indexed once."""
    seen: set[str] = set()
    out = []
    for p in passages:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def _ann_recall(index, vectors: np.ndarray, n_queries: int = 200, k: int = 10) -> float:
    """Recall@k of the ANN index against exact search, on noisy copies of sampled passages."""
    rng = np.random.default_rng(0)
    take = rng.choice(len(vectors), min(n_queries, len(vectors)), replace=False)
    queries = vectors[take] + rng.normal(scale=0.02, size=(len(take), vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = NumpyIndex(vectors.shape[1])
    exact.add(vectors)
    return round(recall_at_k(index, exact, queries, k), 4)


__all__ = ["BuildOptions", "BuildSummary", "build_index", "BuildError", "NothingToIndexError", "list_versions",
           "ParseError"]
