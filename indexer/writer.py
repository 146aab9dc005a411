"""Writing one index version directory: SQLite (passages, tropes, FTS5), vectors, FAISS, manifest."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import numpy as np

from .chunking import Passage
from .lexical import write_term_postings
from .merge import Trope, text_key
from .storage import DB_FILE, FAISS_FILE, MANIFEST_FILE, SCHEMA, VECTORS_FILE, fsync_path, versions_dir
from .vector_index import FaissIndex
from .wikiwords import split_camel_case

logger = logging.getLogger(__name__)


def make_temp_version_dir(index_dir: Path) -> Path:
    root = versions_dir(index_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:10]}"
    tmp.mkdir()
    return tmp


def search_terms(trope: Trope, passage: Passage) -> str:
    """Extra lexical terms: the trope id split into words, so "ChekhovsGun" reaches "Chekhovs Gun"."""
    return f"{trope.trope_id} {split_camel_case(trope.trope_id)}"


def write_database(path: Path, tropes: list[Trope], passages: list[Passage]) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        conn.executescript(SCHEMA)
        trope_rows: dict[str, int] = {}
        by_id: dict[str, Trope] = {}
        for row, t in enumerate(tropes):
            trope_rows[t.trope_id] = row
            by_id[t.trope_id] = t
            conn.execute(
                "INSERT INTO tropes(row, trope_id, title, url, description, quote, related, sources) VALUES (?,?,?,?,?,?,?,?)",
                (row, t.trope_id, t.title, t.url, json.dumps(t.description), t.quote,
                 json.dumps([{"text": l.text, "target": l.target} for l in t.related]), json.dumps(t.sources)),
            )
        conn.executemany(
            "INSERT INTO passages(row, id, trope_row, trope_id, kind, media, work, parent_id, text, embed_text, source,"
            " position, part, tokens, text_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (row, p.id, trope_rows[p.trope_id], p.trope_id, p.kind, p.media, p.work, p.parent_id, p.text,
                 p.embed_text, p.source, p.position, p.part, p.tokens, text_key(p.text)[:200])
                for row, p in enumerate(passages)
            ),
        )
        conn.executemany(
            "INSERT INTO passages_fts(rowid, text, title, work, terms) VALUES (?,?,?,?,?)",
            (
                (row, p.text, p.trope_title, p.work or "", search_terms(by_id[p.trope_id], p))
                for row, p in enumerate(passages)
            ),
        )
        conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('optimize')")
        stems = write_term_postings(conn)
        logger.debug("stored the BM25 postings of %d frequent stems", stems)
        conn.commit()


def write_vectors(path: Path, vectors: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)


def write_manifest(path: Path, manifest: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")


def write_version(tmp_dir: Path, tropes: list[Trope], passages: list[Passage], vectors: np.ndarray,
                  index: FaissIndex, manifest: dict) -> dict:
    """Write every file of a version into `tmp_dir`, fsync them, and return the completed manifest."""
    logger.info("build stage: writing sqlite")
    write_database(tmp_dir / DB_FILE, tropes, passages)
    logger.info("build stage: writing vectors")
    write_vectors(tmp_dir / VECTORS_FILE, vectors)
    logger.info("build stage: writing faiss")
    index.save(tmp_dir / FAISS_FILE)
    manifest = dict(manifest)
    manifest["files"] = {
        name: {"bytes": (tmp_dir / name).stat().st_size} for name in (DB_FILE, VECTORS_FILE, FAISS_FILE)
    }
    write_manifest(tmp_dir / MANIFEST_FILE, manifest)
    for name in (DB_FILE, VECTORS_FILE, FAISS_FILE, MANIFEST_FILE):
        fsync_path(tmp_dir / name)
    fsync_path(tmp_dir)
    return manifest


def finalize_version_dir(tmp_dir: Path, version_id: str) -> Path:
    """Rename the temp dir to its version name (atomic within the filesystem) and fsync the parent."""
    final = tmp_dir.parent / version_id
    os.replace(tmp_dir, final)
    fsync_path(tmp_dir.parent)
    return final
