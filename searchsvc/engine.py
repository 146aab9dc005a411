"""The query engine: one batched core for search, find-similar and lookups over a loaded index version.

`search(q)` is `search_batch([q])[0]`. Dense retrieval uses the FAISS index (inner product of
normalised vectors = cosine); the lexical leg is SQLite FTS5 BM25; hybrid fuses the two.
Find-similar reuses the stored passage vector. Python loops run over the ranked candidates
(at most MAX_DEPTH) or the k results, never over corpus rows.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from indexer.lexical import BM25_WEIGHTS, TermScores
from indexer.storage import IndexVersion

from .errors import InvalidQueryError, NotFoundError
from .query import MAX_DEPTH, MAX_K, SCOPES, Query, _clean_text, check_k
from .textmatch import STOPWORDS, Highlighter, name_key, query_terms

logger = logging.getLogger(__name__)


class EncoderLike(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class EngineSettings:
    depth: int = MAX_DEPTH            # candidates ranked per leg (paging reaches this far)
    fusion: str = "convex"            # "convex" (cosine + weighted BM25) or "rrf" (reciprocal rank fusion)
    lexical_weight: float = 0.15      # convex fusion: weight of BM25 (normalised by the query's best)
    rrf_k: int = 60                   # reciprocal rank fusion constant
    trope_weight: float = 0.4         # hybrid: weight of the cosine to the passage's trope vector
    title_boost: float = 0.1          # added when the query names the trope's title
    work_boost: float = 0.05          # added when the query names the passage's work
    min_dense_score: float = 0.25     # relevance floor on cosine (see README "Relevance floor")
    search_threads: int = 1           # FAISS OpenMP and BLAS threads: more only oversubscribes a small CPU
    query_cache_size: int = 4096      # LRU of query embeddings
    term_cache_mb: int = 64           # LRU of per-term BM25 postings (indexer/lexical.py)
    bm25_weights: tuple[float, float, float, float] = BM25_WEIGHTS  # text, title, work, terms


@dataclass
class SearchResponse:
    query: str
    mode: str
    k: int
    offset: int
    total: int
    took_ms: float
    index_version: str
    results: list[dict]
    facets: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "query": self.query, "mode": self.mode, "k": self.k, "offset": self.offset, "total": self.total,
            "took_ms": round(self.took_ms, 2), "index_version": self.index_version, "results": self.results,
        }


class _LRU:
    def __init__(self, size: int):
        self.size = size
        self.data: OrderedDict[str, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
            return value

    def put(self, key, value):
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


def _add_by_group(sums: np.ndarray, groups: np.ndarray, block: np.ndarray) -> None:
    """sums[g] += the rows of `block` whose group is g (a sort and one reduceat, not a Python loop)."""
    if len(groups) == 0:
        return
    order = np.argsort(groups, kind="stable")  # rows come grouped by trope: nearly free
    groups, block = groups[order], block[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sums[groups[starts]] += np.add.reduceat(block, starts, axis=0)


def trope_vectors(vectors: np.ndarray, trope_of_row: np.ndarray, is_description: np.ndarray, n_tropes: int,
                  chunk: int = 65536) -> np.ndarray:
    """One unit vector per trope: the mean direction of its description passages (of all its
    passages when it has none). Summed chunk by chunk, so a memory-mapped index is read once."""
    dim = vectors.shape[1]
    descriptions = np.zeros((n_tropes, dim), dtype=np.float64)
    everything = np.zeros((n_tropes, dim), dtype=np.float64)
    for start in range(0, len(trope_of_row), chunk):
        block = np.asarray(vectors[start:start + chunk], dtype=np.float64)
        tropes = trope_of_row[start:start + chunk]
        desc = is_description[start:start + chunk]
        _add_by_group(everything, tropes, block)
        _add_by_group(descriptions, tropes[desc], block[desc])
    has_description = np.linalg.norm(descriptions, axis=1) > 0
    chosen = np.where(has_description[:, None], descriptions, everything)
    norms = np.linalg.norm(chosen, axis=1, keepdims=True)
    return (chosen / np.maximum(norms, 1e-12)).astype(np.float32)


class SearchEngine:
    """Answers queries over one IndexVersion. Thread-safe: SQLite connections are per thread."""

    def __init__(self, version: IndexVersion, encoder: EncoderLike, settings: EngineSettings | None = None):
        self.version = version
        self.encoder = encoder
        self.settings = settings or EngineSettings()
        self._local = threading.local()
        self._query_vectors = _LRU(self.settings.query_cache_size)
        self._load_row_metadata()
        self.term_scores = TermScores(self.conn, self.settings.bm25_weights, self.settings.term_cache_mb * 2**20)
        if self.settings.search_threads:
            from threadpoolctl import threadpool_limits

            # One query searches faster on one thread than on several that the web server's other
            # requests also use. BLAS (process-wide): OpenBLAS threads busy-wait, and with them 8
            # concurrent clients got 63 queries/s instead of 136. FAISS: see _thread_state.
            threadpool_limits(limits=self.settings.search_threads, user_api="blas")

    # -- setup -----------------------------------------------------------------------------------
    def _load_row_metadata(self) -> None:
        """Per-row arrays (trope, duplicate group) so collapsing and grouping are vectorised."""
        conn = self.conn()
        rows = conn.execute("SELECT row, trope_row, text_key, kind = 'description' FROM passages ORDER BY row").fetchall()
        n = len(rows)
        self.trope_of_row = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
        is_description = np.fromiter((bool(r[3]) for r in rows), dtype=bool, count=n)
        groups: dict[str, int] = {}
        self.dup_of_row = np.fromiter((groups.setdefault(r[2], len(groups)) if r[2] else -1 - r[0] for r in rows),
                                      dtype=np.int64, count=n)
        self.trope_ids = {r[0]: r[1] for r in conn.execute("SELECT row, trope_id FROM tropes")}
        n_tropes = max(self.trope_ids, default=-1) + 1
        self.trope_vectors = trope_vectors(self.version.vectors, self.trope_of_row, is_description, n_tropes)
        self.trope_rows_by_id = {v.lower(): k for k, v in self.trope_ids.items()}
        # names a query can mention: trope titles -> trope row, work titles -> passage rows
        self.title_keys: dict[str, int] = {}
        for row, title in conn.execute("SELECT row, title FROM tropes"):
            key = name_key(title)
            if len(key) >= 4:
                self.title_keys.setdefault(key, row)
        works: dict[str, list[int]] = {}
        for row, work in conn.execute("SELECT row, work FROM passages WHERE work IS NOT NULL"):
            key = name_key(work)
            if len(key) >= 4:
                works.setdefault(key, []).append(row)
        self.work_keys = {k: np.asarray(v, dtype=np.int64) for k, v in works.items()}

    def conn(self) -> sqlite3.Connection:
        """This thread's SQLite connection."""
        return self._thread_state().conn

    def _thread_state(self) -> threading.local:
        """Per-thread state, set up on a thread's first use: its SQLite connection, and its FAISS
        thread count, which OpenMP keeps per thread (left at the default, a request thread's flat
        scan of the corpus took 4.8 ms on 2 threads against 1.4 ms on one)."""
        state = self._local
        if getattr(state, "conn", None) is None:
            if self.settings.search_threads:
                import faiss

                faiss.omp_set_num_threads(self.settings.search_threads)
            state.conn = self.version.connect()
        return state

    @property
    def version_id(self) -> str:
        return self.version.version_id

    # -- embeddings ------------------------------------------------------------------------------
    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors, one batch for the cache misses; cached by normalised text."""
        keys = [" ".join(t.lower().split()) for t in texts]
        out = np.zeros((len(texts), self.version.vectors.shape[1]), dtype=np.float32)
        missing = []
        for i, key in enumerate(keys):
            cached = self._query_vectors.get(key)
            if cached is None:
                missing.append(i)
            else:
                out[i] = cached
        if missing:
            vectors = self.encoder.encode([texts[i] for i in missing])
            for i, vec in zip(missing, vectors):
                out[i] = vec
                self._query_vectors.put(keys[i], vec)
        return out

    def clear_query_cache(self) -> None:
        self._query_vectors = _LRU(self.settings.query_cache_size)

    def warm_up(self) -> None:
        """Run one real query through every leg so the first user query pays no load cost."""
        self.search(Query("warm up query", k=1, mode="hybrid").validated())

    # -- filters ----------------------------------------------------------------------------------
    def allowed_rows(self, q: Query) -> np.ndarray | None:
        if not (q.media or q.trope or q.kind):
            return None
        clauses, params = [], []
        if q.media:
            clauses.append(f"lower(media) IN ({','.join('?' * len(q.media))})")
            params += [m.lower() for m in q.media]
        if q.trope:
            clauses.append("lower(trope_id) = ?")
            params.append(q.trope.lower())
        if q.kind:
            clauses.append("kind = ?")
            params.append(q.kind)
        sql = f"SELECT row FROM passages WHERE {' AND '.join(clauses)} ORDER BY row"
        return np.fromiter((r[0] for r in self.conn().execute(sql, params)), dtype=np.int64)

    # -- legs -------------------------------------------------------------------------------------
    def _dense(self, vectors: np.ndarray, allowed: np.ndarray | None, depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
        self._thread_state()   # this thread's FAISS setting first
        scores, rows = self.version.search_vectors(vectors, depth, allowed)
        out = []
        for s, r in zip(scores, rows):
            keep = (r >= 0) & (s >= self.settings.min_dense_score)
            out.append((r[keep], s[keep]))
        return out

    def _lexical(self, text: str, allowed: np.ndarray | None, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25 (FTS5) of any of the query's terms: the `depth` best rows, within `allowed` if given."""
        return self.term_scores.search(query_terms(text), depth, allowed)

    def _named(self, text: str) -> tuple[set[int], np.ndarray]:
        """Trope rows whose title, and passage rows whose work, the query names (word n-grams)."""
        words = [w for w in re.findall(r"[^\W_]+", text.lower())][:200]
        tropes: set[int] = set()
        work_rows: list[np.ndarray] = []
        for n in range(1, min(8, len(words)) + 1):
            for i in range(len(words) - n + 1):
                if n == 1 and words[i] in STOPWORDS:
                    continue
                key = "".join(words[i:i + n])
                if key in self.title_keys:
                    tropes.add(self.title_keys[key])
                if key in self.work_keys:
                    work_rows.append(self.work_keys[key])
        rows = np.unique(np.concatenate(work_rows)) if work_rows else np.zeros(0, np.int64)
        return tropes, rows

    def _hybrid(self, text: str, vector: np.ndarray, allowed: np.ndarray | None, depth: int):
        """Both legs' candidates, each scored by its exact cosine plus weighted, normalised BM25.

        Every candidate gets its true cosine from the stored vectors (not just the dense leg's), so
        a passage found only lexically is judged on meaning too; the cosine of the query to the
        passage's trope vector (its descriptions' mean direction) adds what the trope as a whole is
        about; boosts apply when the query names a trope title or a work exactly.
        `fusion="rrf"` keeps plain reciprocal rank fusion.
        """
        s = self.settings
        d_rows, d_scores = self._dense(vector[None, :], allowed, depth)[0]
        l_rows, l_scores = self._lexical(text, allowed, depth)
        if s.fusion == "rrf":
            return self._rrf((d_rows, d_scores), (l_rows, l_scores))
        cand = np.unique(np.concatenate([d_rows, l_rows]))
        if len(cand) == 0:
            return cand, np.zeros(0, np.float32)
        # an exact dense leg (flat index, or a filter) gives its rows' cosines; the other rows'
        # (all of them behind an approximate index) are computed from their stored vectors
        cosine = np.empty(len(cand), dtype=np.float32)
        known = np.zeros(len(cand), dtype=bool)
        if len(d_rows) and (allowed is not None or self.version.faiss_index.index_type == "flat"):
            order = np.argsort(d_rows)
            at = np.minimum(np.searchsorted(d_rows[order], cand), len(d_rows) - 1)
            known = d_rows[order][at] == cand
            cosine[known] = d_scores[order][at[known]]
        if not known.all():
            cosine[~known] = self.version.cosines(vector, cand[~known])
        score = cosine.copy()
        if len(l_rows):
            best = float(l_scores.max()) or 1.0
            score[np.searchsorted(cand, l_rows)] += s.lexical_weight * (l_scores / best)
        if s.trope_weight:
            score += s.trope_weight * (self.trope_vectors @ vector)[self.trope_of_row[cand]]  # cosine
        tropes, work_rows = self._named(text)
        if tropes and s.title_boost:
            score += s.title_boost * np.isin(self.trope_of_row[cand], list(tropes))
        if len(work_rows) and s.work_boost:
            score += s.work_boost * np.isin(cand, work_rows)
        keep = cosine >= s.min_dense_score  # the relevance floor is on meaning, whatever matched lexically
        cand, score = cand[keep], score[keep]
        order = np.lexsort((cand, -score))
        return cand[order], score[order].astype(np.float32)

    def _rrf(self, dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray]):
        """Reciprocal rank fusion of two ranked lists (kept for comparison: `fusion="rrf"`)."""
        k = self.settings.rrf_k
        fused: dict[int, float] = {}
        for rows, _ in (dense, lexical):
            for rank, row in enumerate(rows.tolist()):
                fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
        if not fused:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
        scores = np.fromiter(fused.values(), dtype=np.float32, count=len(fused))
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]

    # -- ranking helpers ------------------------------------------------------------------------
    def _collapse(self, rows: np.ndarray, scores: np.ndarray, group: str) -> tuple[np.ndarray, np.ndarray]:
        """Drop near-duplicates (same normalised text) and, for group=trope, all but each trope's best."""
        if len(rows) == 0:
            return rows, scores
        _, first = np.unique(self.dup_of_row[rows], return_index=True)
        keep = np.sort(first)
        rows, scores = rows[keep], scores[keep]
        if group == "trope":
            _, first = np.unique(self.trope_of_row[rows], return_index=True)
            keep = np.sort(first)
            rows, scores = rows[keep], scores[keep]
        return rows, scores

    def _hydrate(self, rows: np.ndarray, scores: np.ndarray, offset: int, terms: list[str]) -> list[dict]:
        if len(rows) == 0:
            return []
        sql = (
            "SELECT p.row, p.id, p.kind, p.media, p.work, p.text, p.parent_id, t.trope_id, t.title, t.url "
            "FROM passages p JOIN tropes t ON t.row = p.trope_row WHERE p.row IN (SELECT value FROM json_each(?))"
        )
        by_row = {r["row"]: r for r in self.conn().execute(sql, [json.dumps(rows.tolist())])}
        snippet = Highlighter(terms)
        results = []
        for i, (row, score) in enumerate(zip(rows.tolist(), scores.tolist())):
            r = by_row[row]
            results.append({
                "rank": offset + i + 1, "id": r["id"], "score": round(float(score), 5),
                "trope": {"id": r["trope_id"], "title": r["title"], "url": r["url"]},
                "kind": r["kind"], "media": r["media"], "work": r["work"], "text": r["text"],
                "snippet": snippet(r["text"]),
            })
        return results

    def _ranked(self, q: Query, vector: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        depth = self.settings.depth
        allowed = self.allowed_rows(q)
        if q.mode == "dense":
            rows, scores = self._dense(vector[None, :], allowed, depth)[0]
        elif q.mode == "lexical":
            rows, scores = self._lexical(q.text, allowed, depth)
        else:
            rows, scores = self._hybrid(q.text, vector, allowed, depth)
        return self._collapse(rows, scores, q.group)

    # -- public API ---------------------------------------------------------------------------
    def search_batch(self, queries: list[Query], facets: bool = False) -> list[SearchResponse]:
        queries = [q.validated() for q in queries]
        t0 = time.perf_counter()
        need_vectors = [i for i, q in enumerate(queries) if q.mode != "lexical"]
        vectors = self.embed_queries([queries[i].text for i in need_vectors]) if need_vectors else None
        vector_of = {i: vectors[j] for j, i in enumerate(need_vectors)} if vectors is not None else {}
        responses = []
        for i, q in enumerate(queries):
            rows, scores = self._ranked(q, vector_of.get(i))
            page_rows, page_scores = rows[q.offset:q.offset + q.k], scores[q.offset:q.offset + q.k]
            results = self._hydrate(page_rows, page_scores, q.offset, query_terms(q.text))
            response = SearchResponse(q.text, q.mode, q.k, q.offset, int(len(rows)), 0.0, self.version_id, results)
            if facets:
                response.facets = {"media": self.media_facets(Query(q.text, q.k, 0, q.mode, (), q.trope, q.kind, q.group), vector_of.get(i))}
            responses.append(response)
        took = (time.perf_counter() - t0) * 1000
        for r in responses:
            r.took_ms = took / max(len(responses), 1)
        return responses

    def search(self, q: Query, facets: bool = False) -> SearchResponse:
        return self.search_batch([q], facets=facets)[0]

    def media_facets(self, q: Query, vector: np.ndarray | None) -> dict[str, int]:
        """Counts of ranked results per media for the query without its media filter."""
        rows, _ = self._ranked(q, vector)
        if len(rows) == 0:
            return {}
        sql = "SELECT media, count(*) FROM passages WHERE media IS NOT NULL AND row IN (SELECT value FROM json_each(?)) GROUP BY media ORDER BY count(*) DESC, media"
        return {m: n for m, n in self.conn().execute(sql, [json.dumps(rows.tolist())])}

    def passage_row(self, passage_id: str) -> int:
        if not isinstance(passage_id, str) or not passage_id or len(passage_id) > 64:
            raise NotFoundError(f"no passage with id {passage_id!r}")
        r = self.conn().execute("SELECT row FROM passages WHERE id = ?", [passage_id]).fetchone()
        if r is None:
            raise NotFoundError(f"no passage with id {passage_id!r} in index version {self.version_id}")
        return int(r[0])

    def passage(self, passage_id: str) -> dict:
        row = self.passage_row(passage_id)
        r = self.conn().execute(
            "SELECT p.id, p.kind, p.media, p.work, p.text, p.parent_id, p.source, p.position, p.part, p.tokens, "
            "t.trope_id, t.title, t.url FROM passages p JOIN tropes t ON t.row = p.trope_row WHERE p.row = ?", [row]
        ).fetchone()
        return {
            "id": r["id"], "trope": {"id": r["trope_id"], "title": r["title"], "url": r["url"]}, "kind": r["kind"],
            "media": r["media"], "work": r["work"], "text": r["text"], "parent_id": r["parent_id"],
            "source": r["source"], "position": r["position"], "part": r["part"], "tokens": r["tokens"],
        }

    def similar(self, passage_id: str, k: int = 10, scope: str = "any") -> SearchResponse:
        """Passages closest to a stored one (its stored vector; no re-encoding). Never itself or a copy."""
        check_k(k)
        if scope not in SCOPES:
            raise InvalidQueryError(f"unknown scope {scope!r}; choose one of: {', '.join(SCOPES)}")
        t0 = time.perf_counter()
        row = self.passage_row(passage_id)
        vector = np.asarray(self.version.vectors[row], dtype=np.float32)
        same_trope = self.trope_of_row == self.trope_of_row[row]
        allowed = None
        if scope == "same-trope":
            allowed = np.flatnonzero(same_trope)
        elif scope == "other-tropes":
            allowed = np.flatnonzero(~same_trope)
        copies = self.dup_of_row == self.dup_of_row[row]
        depth = min(self.version.count, k + int(copies.sum()) + 16)
        rows, scores = self._dense(vector[None, :], allowed, depth)[0]
        keep = ~copies[rows]
        rows, scores = self._collapse(rows[keep], scores[keep], "passage")
        text = self.conn().execute("SELECT text FROM passages WHERE row = ?", [row]).fetchone()[0]
        results = self._hydrate(rows[:k], scores[:k], 0, [])
        return SearchResponse(text, "similar", k, 0, int(len(rows)), (time.perf_counter() - t0) * 1000,
                              self.version_id, results)

    def similar_text(self, text: str, k: int = 10) -> SearchResponse:
        """Passages like a pasted example: dense search on its embedding."""
        text = _clean_text(text, "text")
        return self.search(Query(text, k=k, mode="dense"))

    def trope(self, trope_id: str) -> dict:
        row = self.trope_rows_by_id.get(str(trope_id).lower())
        if row is None:
            raise NotFoundError(f"no trope {trope_id!r} in index version {self.version_id}")
        conn = self.conn()
        t = conn.execute("SELECT * FROM tropes WHERE row = ?", [row]).fetchone()
        counts = {m: n for m, n in conn.execute(
            "SELECT media, count(*) FROM passages WHERE trope_row = ? AND kind = 'example' GROUP BY media ORDER BY media",
            [row])}
        return {
            "id": t["trope_id"], "title": t["title"], "url": t["url"], "description": json.loads(t["description"]),
            "quote": t["quote"], "related": json.loads(t["related"]), "example_counts": counts,
            "examples": sum(counts.values()),
        }

    def tropes_by_prefix(self, prefix: str, limit: int = 10) -> list[dict]:
        prefix = (prefix or "").strip()
        if not prefix or len(prefix) > 200:
            raise InvalidQueryError("prefix must be 1 to 200 characters")
        limit = max(1, min(int(limit), MAX_K))
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.conn().execute(
            "SELECT trope_id, title, url FROM tropes WHERE title LIKE ? ESCAPE '\\' OR trope_id LIKE ? ESCAPE '\\' "
            "ORDER BY length(title), title LIMIT ?", [like, like.replace(" ", ""), limit]).fetchall()
        return [{"id": r["trope_id"], "title": r["title"], "url": r["url"]} for r in rows]

    def trope_named(self, text: str) -> dict | None:
        """The trope whose title or id the text is (for "did you mean a trope?")."""
        key = "".join(ch for ch in text.lower() if ch.isalnum())
        if not key:
            return None
        r = self.conn().execute(
            "SELECT trope_id, title, url FROM tropes WHERE lower(trope_id) = ? LIMIT 1", [key]).fetchone()
        if r is None:
            return None
        return {"id": r["trope_id"], "title": r["title"], "url": r["url"]}

    def stats(self) -> dict:
        m = self.version.manifest
        return {"version": self.version_id, "passages": m["counts"]["passages"], "tropes": m["counts"]["tropes"],
                "index_type": m["index"]["type"], "model": m["model"]["name"], "built_at": m["built_at"]}


__all__ = ["SearchEngine", "EngineSettings", "SearchResponse", "Query", "MAX_K"]
