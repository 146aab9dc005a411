"""The ranking core against oracles: summed per-term BM25 (precomputed at build, or asked of FTS5 per
term) against FTS5's own OR query, trope vectors against a per-trope mean, and hybrid scores
against the formula they are documented to follow."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.lexical import PRECOMPUTED_MIN_ROWS, TermScores, fts_match_expression
from searchsvc.engine import EngineSettings, SearchEngine, trope_vectors
from searchsvc.query import Query
from searchsvc.textmatch import query_terms

QUERIES = [
    "aliens seduce humans at first contact",
    "a romance between a human and a creature of another species",
    "running runs ran runner",        # stems shared between terms
    "ChekhovsGun",                     # CamelCase split
    "the of and",                      # stopwords only
    "zzqxv nonexistentword",           # nothing matches
    "café naïve",                      # diacritics
]


def fts_or_query(conn, terms, weights, depth, allowed=None):
    """The oracle: FTS5 scores the whole OR query itself."""
    expr = fts_match_expression(terms)
    if expr is None:
        return {}
    w = ", ".join(str(x) for x in weights)
    found = dict(conn.execute(f"SELECT rowid, -bm25(passages_fts, {w}) FROM passages_fts WHERE passages_fts MATCH ?",
                              [expr]).fetchall())
    if allowed is not None:
        found = {r: s for r, s in found.items() if r in set(allowed.tolist())}
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:depth])


@pytest.fixture(scope="module")
def weights():
    return EngineSettings().bm25_weights


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("budget", [64 * 2**20, 2048])   # room for everything; evicting all the time
@pytest.mark.parametrize("precomputed", [True, False])   # the build's postings table, or FTS5 per term
def test_summed_term_scores_are_fts5s_or_query(tiny_version, weights, text, budget, precomputed):
    conn = tiny_version.connect()
    scores = TermScores(lambda: conn, weights, budget_bytes=budget)
    assert scores.precomputed, "the build stores the frequent terms' postings"
    scores.precomputed = precomputed
    terms = query_terms(text)
    for _ in range(2):   # cold, then from the cache
        rows, got = scores.search(terms, 50)
        want = fts_or_query(conn, terms, weights, 50)
        assert rows.tolist() == list(want), text
        np.testing.assert_allclose(got, list(want.values()), rtol=1e-5)
    assert scores.cached_bytes <= budget


def test_the_build_stores_exactly_the_frequent_stems(tiny_version, weights):
    """Every stem in at least PRECOMPUTED_MIN_ROWS rows has its postings stored, equal to FTS5's."""
    conn = tiny_version.connect()
    conn.execute("CREATE VIRTUAL TABLE temp.counts USING fts5vocab(main, passages_fts, 'row')")
    frequent = {t for t, in conn.execute("SELECT term FROM temp.counts WHERE doc >= ?", [PRECOMPUTED_MIN_ROWS])}
    stored = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT stem, rows, scores FROM term_postings")}
    key = TermScores(lambda: conn).key
    fixed = {t for t in frequent if key(t) == t}   # "becaus" stems to "becau": asked of FTS5 instead
    assert len(fixed) > 20 and len(fixed) >= 0.9 * len(frequent) and set(stored) == fixed
    for stem in sorted(fixed)[:: max(1, len(fixed) // 15)]:
        rows = np.frombuffer(stored[stem][0], np.int32)
        scores = np.frombuffer(stored[stem][1], np.float32)
        want = fts_or_query(conn, [stem], weights, 10**9)
        assert sorted(want) == rows.tolist(), stem
        np.testing.assert_allclose(scores, [want[r] for r in rows.tolist()], rtol=1e-6)


def test_other_weights_do_not_use_the_stored_postings(tiny_version):
    conn = tiny_version.connect()
    other = TermScores(lambda: conn, (1.0, 1.0, 1.0, 1.0))
    assert not other.precomputed
    terms = query_terms("humans and aliens in love")
    rows, _ = other.search(terms, 20)
    assert rows.tolist() == list(fts_or_query(conn, terms, (1.0, 1.0, 1.0, 1.0), 20))


def test_term_scores_within_allowed_rows(tiny_version, weights):
    conn = tiny_version.connect()
    scores = TermScores(lambda: conn, weights)
    terms = query_terms("love between species from other worlds")
    everything = fts_or_query(conn, terms, weights, 10_000)
    allowed = np.array(sorted(everything)[::3], dtype=np.int64)
    rows, got = scores.search(terms, 5, allowed)
    want = fts_or_query(conn, terms, weights, 5, allowed)
    assert rows.tolist() == list(want) and len(rows) == 5
    assert scores.search(terms, 5, np.zeros(0, np.int64))[0].size == 0


def test_terms_with_one_stem_share_one_cache_entry(tiny_version, weights):
    conn = tiny_version.connect()
    scores = TermScores(lambda: conn, weights)
    assert scores.key("running") == scores.key("runs") == scores.key("run")
    assert scores.key("Café") == scores.key("cafe")
    scores.postings("running")
    size = scores.cached_bytes
    assert size > 0
    scores.postings("runs")
    assert scores.cached_bytes == size


def test_trope_vectors_are_each_tropes_mean_description_direction():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tropes = np.sort(rng.integers(0, 6, size=40))
    tropes[tropes == 4] = 5                     # trope 4 has no passage at all
    is_desc = rng.random(40) < 0.5
    is_desc[tropes == 2] = False                # trope 2 has examples only
    shuffle = rng.permutation(40)               # the helper must not rely on rows grouped by trope
    got = trope_vectors(vectors[shuffle], tropes[shuffle], is_desc[shuffle], 6, chunk=7)
    for t in range(6):
        mine = (tropes == t) & is_desc if ((tropes == t) & is_desc).any() else tropes == t
        if not mine.any():
            assert not got[t].any()
            continue
        mean = vectors[mine].mean(axis=0)
        np.testing.assert_allclose(got[t], mean / np.linalg.norm(mean), atol=1e-6)


def test_hybrid_scores_follow_the_documented_formula(tiny_version, encoder, weights):
    engine = SearchEngine(tiny_version, encoder)
    s = engine.settings
    text = "Boldly Coming: humans seduce aliens at first contact"
    q = Query(text, k=20, mode="hybrid").validated()
    vector = engine.embed_queries([q.text])[0]
    rows, scores = engine._hybrid(q.text, vector, None, s.depth)
    assert len(rows) >= 10

    conn = tiny_version.connect()
    bm25 = fts_or_query(conn, query_terms(q.text), weights, s.depth)
    best = max(bm25.values())
    tropes, work_rows = engine._named(q.text)
    assert tropes, "the query names the trope Boldly Coming"
    vectors = np.asarray(tiny_version.vectors)
    for row, score in zip(rows[:15].tolist(), scores[:15].tolist()):
        trope = engine.trope_of_row[row]
        expected = (float(vectors[row] @ vector) + s.lexical_weight * bm25.get(row, 0.0) / best
                    + s.trope_weight * float(engine.trope_vectors[trope] @ vector)
                    + s.title_boost * (trope in tropes) + s.work_boost * (row in set(work_rows.tolist())))
        assert score == pytest.approx(expected, abs=1e-4), row
    assert np.all(np.diff(scores) <= 1e-7), "best first"


def test_the_faiss_path_ranks_as_the_filtered_numpy_path(tiny_version, encoder):
    """Unfiltered hybrid search takes its dense leg (and those rows' cosines) from FAISS; a filter
    that allows every row goes the NumPy way over the stored vectors: the same ranking."""
    engine = SearchEngine(tiny_version, encoder)
    everything = np.arange(tiny_version.count, dtype=np.int64)
    for text in QUERIES[:4]:
        vector = engine.embed_queries([text])[0]
        fast_rows, fast_scores = engine._hybrid(text, vector, None, 200)
        slow_rows, slow_scores = engine._hybrid(text, vector, everything, 200)
        np.testing.assert_allclose(fast_scores, slow_scores, atol=1e-5)
        # the same rows in the same order, but for near-ties that float rounding may swap
        clear = np.r_[np.diff(fast_scores) < -1e-5, True] & np.r_[True, np.diff(fast_scores) < -1e-5]
        assert fast_rows[clear].tolist() == slow_rows[clear].tolist(), text
        assert sorted(fast_rows.tolist()) == sorted(slow_rows.tolist())


def test_a_version_without_stored_postings_asks_fts5(tiny_version, weights, tmp_path):
    """Versions built before the postings table existed still answer, from FTS5 alone."""
    import shutil
    import sqlite3

    db = tmp_path / "old.sqlite"
    shutil.copy(tiny_version.path / "passages.sqlite", db)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE term_postings")
        conn.execute("DROP TABLE lexical_meta")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    scores = TermScores(lambda: conn, weights)
    assert not scores.precomputed
    terms = query_terms("aliens seduce humans at first contact")
    rows, _ = scores.search(terms, 30)
    assert rows.tolist() == list(fts_or_query(conn, terms, weights, 30))


def test_every_search_thread_runs_faiss_on_one_thread(tiny_version, encoder):
    """OpenMP keeps its thread count per thread: the service's request threads must each set it
    (a flat scan on 2 threads took 4.8 ms against 1.4 ms on one)."""
    import threading

    import faiss

    def in_new_thread(work):
        seen = []
        thread = threading.Thread(target=lambda: seen.append(work()))
        thread.start()
        thread.join()
        return seen[0]

    if in_new_thread(faiss.omp_get_max_threads) == 1:
        pytest.skip("one CPU: a new thread's OpenMP default is already one thread")
    engine = SearchEngine(tiny_version, encoder)

    def search_then_threads():
        engine.search(Query("aliens seduce humans", mode="dense"))
        return faiss.omp_get_max_threads()

    assert in_new_thread(search_then_threads) == engine.settings.search_threads == 1
