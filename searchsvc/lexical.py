"""The lexical leg: SQLite FTS5 BM25, summed from cached per-term scores.

FTS5's `bm25()` of an OR query is the sum, over its phrases, of each phrase's own BM25 (the IDF
of a phrase and its weighted frequency in a row do not depend on the other phrases; checked
bit for bit on the dev queries). An OR query of a sentence-long question matches a quarter of
the corpus through its common words ("character", "when"), and FTS5 scores every match: 7 ms
median for one query over the full corpus. So each term is asked of FTS5 on its own, its
(row, score) postings are kept in a byte-bounded LRU, and a query's BM25 is the NumPy sum of its
terms' postings. Common words are then free after their first query; the scores are the ones
FTS5 gives the whole OR query.

Postings are keyed by the term's Porter stem (SQLite's own stemmer, through an `fts3tokenize`
table), so "run", "runs" and "running" share one entry, and `warm()` can fill the cache with the
corpus's most frequent stems (read from an `fts5vocab` table) before a version serves.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .textmatch import STOPWORDS, fts_match_expression

logger = logging.getLogger(__name__)

_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


class TermScores:
    """BM25 over an FTS5 table, one cached posting list of scores per query term. Thread-safe."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], weights: tuple[float, ...],
                 budget_bytes: int = 64 * 2**20, table: str = "passages_fts"):
        self._connect = connect
        self._sql = (f"SELECT rowid, bm25({table}, {', '.join(str(float(w)) for w in weights)}) "
                     f"FROM {table} WHERE {table} MATCH ?")
        self.budget_bytes = budget_bytes
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._table = table

    def _stemmer(self, conn: sqlite3.Connection) -> bool:
        """Whether this connection has the temp `fts3tokenize(porter)` table (made on first use)."""
        ready = getattr(self._local, "stemmer", None)
        if ready is None or ready[0] is not conn:
            try:
                conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.term_stems USING fts3tokenize(porter)")
                ok = True
            except sqlite3.Error as exc:  # SQLite built without FTS3: key by the word itself
                logger.debug("no fts3tokenize: %s", exc)
                ok = False
            ready = self._local.stemmer = (conn, ok)
        return ready[1]

    def key(self, term: str) -> str:
        """The stem FTS5 indexes `term` under (diacritics removed, then SQLite's Porter stemmer)."""
        plain = "".join(ch for ch in unicodedata.normalize("NFD", term.lower()) if not unicodedata.combining(ch))
        conn = self._connect()
        if plain and self._stemmer(conn):
            tokens = conn.execute("SELECT token FROM temp.term_stems WHERE input = ?", [plain]).fetchall()
            if len(tokens) == 1:
                return tokens[0][0]
        return plain or term

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows (int32, ascending) that match `term` and their BM25 for it (float32, higher is better)."""
        key = self.key(term)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        expr = fts_match_expression([term])
        try:
            found = self._connect().execute(self._sql, [expr]).fetchall() if expr else []
        except sqlite3.OperationalError as exc:  # a term FTS5 refuses: no hits, not a crash
            logger.debug("FTS5 refused %r: %s", expr, exc)
            found = []
        rows = np.fromiter((f[0] for f in found), dtype=np.int32, count=len(found))
        scores = np.fromiter((-f[1] for f in found), dtype=np.float32, count=len(found))  # bm25(): lower is better
        order = np.argsort(rows, kind="stable")
        entry = (rows[order], scores[order])
        size = rows.nbytes + scores.nbytes + len(key)
        if size <= self.budget_bytes:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = entry
                    self._bytes += size
                    while self._bytes > self.budget_bytes:
                        old, (r, s) = self._cache.popitem(last=False)
                        self._bytes -= r.nbytes + s.nbytes + len(old)
        return entry

    def warm(self, seconds: float, skip: frozenset[str] = STOPWORDS) -> int:
        """Fetch the postings of the corpus's most frequent stems, most frequent first, for at most
        `seconds` (their first query is the costly one); stems of `skip` words (never query terms)
        are passed over. Returns how many stems were fetched."""
        if seconds <= 0:
            return 0
        deadline = time.perf_counter() + seconds
        skipped = {self.key(w) for w in skip}
        conn = self._connect()
        try:
            conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.term_counts USING fts5vocab(main, {self._table}, 'row')")
            stems = [r[0] for r in conn.execute("SELECT term FROM temp.term_counts ORDER BY doc DESC LIMIT 5000")]
        except sqlite3.Error as exc:
            logger.debug("no fts5vocab: %s", exc)
            return 0
        done = 0
        for stem in stems:
            if time.perf_counter() >= deadline or self._bytes >= self.budget_bytes:
                break
            if stem in skipped:
                continue
            self.postings(stem)
            done += 1
        return done

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
