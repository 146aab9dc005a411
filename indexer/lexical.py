"""The lexical leg of an index: SQLite FTS5 BM25, summed from per-term scores.

FTS5's `bm25()` of an OR query is the sum, over its phrases, of each phrase's own BM25 (a
phrase's IDF and its weighted frequency in a row do not depend on the other phrases; checked
bit for bit on the dev queries). A sentence-long question matches a quarter of the corpus
through its common words ("character", "when"), and FTS5 scores every match: 7 ms median per
query over the full corpus. So each term is asked of FTS5 on its own and a query's BM25 is the
NumPy sum of its terms' (row, score) postings; the scores are the ones FTS5 gives the whole
OR query.

- The build stores the postings of every stem found in at least `PRECOMPUTED_MIN_ROWS` rows in
  the `term_postings` table (`write_term_postings`), computed by FTS5 with `BM25_WEIGHTS`: the
  costly terms are never scored at query time. Rarer terms are asked of FTS5 when queried.
- `TermScores` keeps the postings it has fetched in a byte-bounded LRU.
- Postings are keyed by the term's Porter stem (SQLite's own stemmer, through an `fts3tokenize`
  table), so "run", "runs" and "running" share one entry.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)

FTS_TABLE = "passages_fts"
BM25_WEIGHTS = (1.0, 2.0, 1.5, 2.0)   # columns text, title, work, terms (trope id split into words)
# Scoring a term costs FTS5 about 1 us per matching row; from this many rows on, a term's postings
# are computed at build time (full corpus: 4,220 of 43,026 stems, 1.37M of 1.52M postings, 11 MB).
PRECOMPUTED_MIN_ROWS = 32

_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


def fts_match_expression(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression: any of the terms (quoted, so no query syntax leaks through)."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms if t]
    return " OR ".join(quoted) or None


def _bm25_sql(weights: tuple[float, ...]) -> str:
    return (f"SELECT rowid, bm25({FTS_TABLE}, {', '.join(str(float(w)) for w in weights)}) "
            f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?")


def _fts5_postings(conn: sqlite3.Connection, term: str, weights: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Rows (int32, ascending) matching `term` and their BM25 for it (float32, higher is better)."""
    expr = fts_match_expression([term])
    try:
        found = conn.execute(_bm25_sql(weights), [expr]).fetchall() if expr else []
    except sqlite3.OperationalError as exc:  # a term FTS5 refuses: no hits, not a crash
        logger.debug("FTS5 refused %r: %s", expr, exc)
        found = []
    rows = np.fromiter((f[0] for f in found), dtype=np.int32, count=len(found))
    scores = np.fromiter((-f[1] for f in found), dtype=np.float32, count=len(found))  # bm25(): lower is better
    order = np.argsort(rows, kind="stable")
    return rows[order], scores[order]


class Stemmer:
    """The stem FTS5 indexes a word under: diacritics removed, then SQLite's Porter stemmer."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _ready(self, conn: sqlite3.Connection) -> bool:
        state = getattr(self._local, "state", None)
        if state is None or state[0] is not conn:
            try:
                conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.term_stems USING fts3tokenize(porter)")
                ok = True
            except sqlite3.Error as exc:  # SQLite built without FTS3: key by the word itself
                logger.debug("no fts3tokenize: %s", exc)
                ok = False
            state = self._local.state = (conn, ok)
        return state[1]

    def __call__(self, conn: sqlite3.Connection, term: str) -> str:
        plain = "".join(ch for ch in unicodedata.normalize("NFD", term.lower()) if not unicodedata.combining(ch))
        if plain and self._ready(conn):
            tokens = conn.execute("SELECT token FROM temp.term_stems WHERE input = ?", [plain]).fetchall()
            if len(tokens) == 1:
                return tokens[0][0]
        return plain or term


def write_term_postings(conn: sqlite3.Connection, weights: tuple[float, ...] = BM25_WEIGHTS,
                        min_rows: int = PRECOMPUTED_MIN_ROWS) -> int:
    """Store the BM25 postings of every stem in at least `min_rows` rows (see the module doc) in
    `term_postings`, with the weights they were scored with. Returns the number of stems stored."""
    stem = Stemmer()
    conn.execute(f"CREATE VIRTUAL TABLE temp.term_counts USING fts5vocab(main, {FTS_TABLE}, 'row')")
    frequent = [r[0] for r in conn.execute("SELECT term FROM temp.term_counts WHERE doc >= ?", [min_rows])]
    conn.execute("DROP TABLE temp.term_counts")
    stored = {}
    for term in frequent:
        # A query word is looked up by its stem, and asking FTS5 for a stem stems it once more:
        # only a stem that stems to itself (all but a few, like "becaus" -> "becau") can be stored
        # under its own name; words with the others are asked of FTS5 at query time.
        if stem(conn, term) == term:
            stored[term] = _fts5_postings(conn, term, weights)
    conn.executemany("INSERT INTO term_postings(stem, rows, scores) VALUES (?, ?, ?)",
                     ((k, r.tobytes(), s.tobytes()) for k, (r, s) in stored.items()))
    conn.execute("INSERT INTO lexical_meta(key, value) VALUES ('bm25_weights', ?), ('min_rows', ?)",
                 [json.dumps([float(w) for w in weights]), str(min_rows)])
    return len(stored)


class TermScores:
    """BM25 over an index's FTS5 table from per-term postings (precomputed, else asked of FTS5),
    kept in a byte-bounded LRU. Thread-safe; `connect()` gives the calling thread's connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], weights: tuple[float, ...] = BM25_WEIGHTS,
                 budget_bytes: int = 64 * 2**20):
        self._connect = connect
        self.weights = tuple(float(w) for w in weights)
        self.budget_bytes = budget_bytes
        self._stem = Stemmer()
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.precomputed = self._has_precomputed()

    def _has_precomputed(self) -> bool:
        """Whether the index stores postings scored with these weights (older versions do not)."""
        try:
            row = self._connect().execute("SELECT value FROM lexical_meta WHERE key = 'bm25_weights'").fetchone()
        except sqlite3.Error:
            return False
        try:
            return row is not None and tuple(float(w) for w in json.loads(row[0])) == self.weights
        except (ValueError, TypeError):
            return False

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def key(self, term: str) -> str:
        return self._stem(self._connect(), term)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows (int32, ascending) that match `term` and their BM25 for it (float32, higher is better)."""
        conn = self._connect()
        key = self._stem(conn, term)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        entry = None
        if self.precomputed:
            row = conn.execute("SELECT rows, scores FROM term_postings WHERE stem = ?", [key]).fetchone()
            if row is not None:
                entry = (np.frombuffer(row[0], dtype=np.int32), np.frombuffer(row[1], dtype=np.float32))
        if entry is None:
            entry = _fts5_postings(conn, term, self.weights)
        size = entry[0].nbytes + entry[1].nbytes + len(key)
        if size <= self.budget_bytes:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = entry
                    self._bytes += size
                    while self._bytes > self.budget_bytes:
                        old, (r, s) = self._cache.popitem(last=False)
                        self._bytes -= r.nbytes + s.nbytes + len(old)
        return entry

    def search(self, terms: list[str], depth: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The `depth` best rows by BM25 of the OR of `terms` (within sorted `allowed` rows, if given)."""
        if not terms or depth <= 0 or (allowed is not None and len(allowed) == 0):
            return _EMPTY
        lists = [self.postings(t) for t in terms]
        rows = np.concatenate([r for r, _ in lists])
        if len(rows) == 0:
            return _EMPTY
        scores = np.concatenate([s for _, s in lists]).astype(np.float64)
        unique, inverse = np.unique(rows, return_inverse=True)
        total = np.bincount(inverse, weights=scores, minlength=len(unique))
        unique = unique.astype(np.int64)
        if allowed is not None:
            at = np.minimum(np.searchsorted(allowed, unique), len(allowed) - 1)
            keep = allowed[at] == unique
            unique, total = unique[keep], total[keep]
        if len(unique) > depth:
            top = np.argpartition(-total, depth - 1)[:depth]
            unique, total = unique[top], total[top]
        order = np.lexsort((unique, -total))  # best first, ties by row: deterministic
        return unique[order], total[order].astype(np.float32)
