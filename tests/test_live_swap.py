"""Live swap: a newly published index version replaces the served one without failing a request;
a version that does not load leaves the service on the last good one."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from indexer.storage import CURRENT_NAME, current_version_id, versions_dir
from svc_fixtures import copy_version, index_copy, make_app  # noqa: F401 - fixtures

QUERIES = ("aliens seduce humans", "an alien romance", "love", "captain kirk")


def clone_version(index_dir: Path, new_id: str, publish: bool = True) -> Path:
    """A copy of the published version under another id (optionally published by rewriting CURRENT)."""
    src = versions_dir(index_dir) / current_version_id(index_dir)
    dst = versions_dir(index_dir) / new_id
    shutil.copytree(src, dst)
    if publish:
        (index_dir / CURRENT_NAME).write_text(new_id + "\n", encoding="utf-8")
    return dst


@pytest.fixture
def swap_app(index_copy, encoder):
    app = make_app(index_copy, encoder, RELOAD_INTERVAL=0.2)
    yield app
    app.extensions["tropesearch"].close()


class Hammer:
    """N threads searching in a loop, each with its own test client; records every response."""

    def __init__(self, app, threads: int = 6):
        self.app = app
        self.stop = threading.Event()
        self.records: list[list[tuple[int, str | None]]] = [[] for _ in range(threads)]
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, i: int) -> None:
        client = self.app.test_client()
        n = 0
        try:
            while not self.stop.is_set():
                q = QUERIES[(i + n) % len(QUERIES)]
                resp = client.get("/api/search", query_string={"q": q, "k": 5, "mode": ("hybrid", "lexical")[n % 2]})
                body = resp.get_json(silent=True) or {}
                self.records[i].append((resp.status_code, body.get("index_version")))
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def count(self) -> int:
        return sum(len(r) for r in self.records)


def wait_for(predicate, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def test_live_swap_under_load(swap_app, index_copy, tiny_sources, tmp_path):
    from indexer.build import BuildOptions, build_index

    holder = swap_app.extensions["tropesearch"]
    old = holder.engine.version_id
    # the second version: a different subset of the sources (only the Boldly Coming page)
    subset = tmp_path / "subset"
    subset.mkdir()
    seeds = tiny_sources[0]
    for name in ("002_757896695408fafc.txt", "manifest.json"):
        shutil.copy(seeds / name, subset / name)
    with Hammer(swap_app, threads=6) as hammer:
        assert wait_for(lambda: hammer.count() >= 12)
        with pytest.MonkeyPatch.context() as mp:
            # embeddings come from the copied cache; should any be missing, encode with the app's
            # (locked) encoder rather than loading a second model
            mp.setattr("indexer.encoding.load_encoder", lambda *a, **k: holder.encoder)
            summary = build_index(BuildOptions(sources=[subset], index_dir=index_copy, backend="torch"))
        new = summary.version_id
        assert new != old and current_version_id(index_copy) == new
        holder.check_now()   # the watcher may already have swapped; either way it is the new one now
        assert holder.engine.version_id == new
        before = hammer.count()
        assert wait_for(lambda: hammer.count() >= before + 24)
    assert not hammer.errors, hammer.errors
    flat = [rec for recs in hammer.records for rec in recs]
    failures = [rec for rec in flat if rec[0] != 200]
    assert not failures, failures[:5]
    assert {v for _, v in flat} == {old, new}
    for recs in hammer.records:   # once a thread saw the new version it never sees the old one again
        versions = [v for _, v in recs]
        if new in versions:
            assert old not in versions[versions.index(new):]
    body = swap_app.test_client().get("/api/search", query_string={"q": "aliens seduce humans"}).get_json()
    assert body["index_version"] == new
    assert all(r["trope"]["id"] == "BoldlyComing" for r in body["results"])
    ready = swap_app.test_client().get("/readyz").get_json()
    assert ready["details"]["index_version"] == new and ready["details"]["reloads"]["ok"] >= 2


def test_request_in_flight_finishes_on_the_old_engine(swap_app, index_copy):
    holder = swap_app.extensions["tropesearch"]
    old_engine = holder.engine
    entered, release = threading.Event(), threading.Event()
    real_search = old_engine.search

    def slow_search(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return real_search(*args, **kwargs)

    old_engine.search = slow_search
    result = {}

    def request():
        result["resp"] = swap_app.test_client().get("/api/search", query_string={"q": "love"})

    t = threading.Thread(target=request)
    t.start()
    assert entered.wait(30)
    clone_version(index_copy, "29990101T000000-aaaaaa")
    assert holder.check_now()
    assert holder.engine is not old_engine and holder.engine.version_id == "29990101T000000-aaaaaa"
    release.set()
    t.join(30)
    resp = result["resp"]
    assert resp.status_code == 200 and resp.get_json()["index_version"] == old_engine.version_id
    fresh = swap_app.test_client().get("/api/search", query_string={"q": "love"}).get_json()
    assert fresh["index_version"] == "29990101T000000-aaaaaa"


def _corrupt_faiss(version_dir: Path) -> None:
    path = version_dir / "index.faiss"
    path.write_bytes(path.read_bytes()[:100])


def _other_model(version_dir: Path) -> None:
    path = version_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"]["fingerprint"] = "0123456789abcdef"
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage,code", [(_corrupt_faiss, "corrupt_index"), (_other_model, "index_mismatch")])
def test_a_bad_version_keeps_the_last_good_one(swap_app, index_copy, damage, code):
    holder = swap_app.extensions["tropesearch"]
    client = swap_app.test_client()
    good = holder.engine.version_id
    damage(clone_version(index_copy, "29990101T000000-bad000"))
    assert holder.check_now() is False
    assert holder.engine.version_id == good
    assert holder.check_now() is False        # not retried on every check
    ready = client.get("/readyz")
    assert ready.status_code == 200
    details = ready.get_json()["details"]
    assert details["index_version"] == good and details["published_version"] == "29990101T000000-bad000"
    assert details["last_error"]["code"] == code and details["last_error"]["version"] == "29990101T000000-bad000"
    assert "29990101T000000-bad000" in details["last_error"]["message"]
    search = client.get("/api/search", query_string={"q": "love"})
    assert search.status_code == 200 and search.get_json()["index_version"] == good
    assert 'tropesearch_index_reloads_total{result="error"} 1.0' in client.get("/metrics").get_data(as_text=True)
    # the next good publication is picked up and clears the error
    (index_copy / CURRENT_NAME).write_text(good + "\n")
    clone_version(index_copy, "29990101T000001-good00")
    assert holder.check_now() is True
    details = client.get("/readyz").get_json()["details"]
    assert details["index_version"] == "29990101T000001-good00" and details["last_error"] is None


def test_a_bad_first_version_is_503_with_the_reason(tmp_path, tiny_index_dir, encoder):
    index_dir = tmp_path / "index"
    vid = copy_version(tiny_index_dir, index_dir)
    _corrupt_faiss(versions_dir(index_dir) / vid)
    app = make_app(index_dir, encoder, RELOAD_INTERVAL=0)
    try:
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["error"]["code"] == "corrupt_index"
        resp = client.get("/api/search", query_string={"q": "love"})
        assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "corrupt_index"
        assert client.get("/healthz").status_code == 200
    finally:
        app.extensions["tropesearch"].close()


def test_the_watcher_picks_up_a_first_index(tmp_path, tiny_index_dir, encoder):
    index_dir = tmp_path / "index"
    app = make_app(index_dir, encoder, RELOAD_INTERVAL=0.1, WARM_UP=False)
    try:
        client = app.test_client()
        assert client.get("/readyz").status_code == 503
        vid = copy_version(tiny_index_dir, index_dir)
        assert wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
        body = client.get("/api/search", query_string={"q": "aliens seduce humans"}).get_json()
        assert body["index_version"] == vid
    finally:
        app.extensions["tropesearch"].close()


def test_close_stops_the_watcher(tiny_index_dir, encoder):
    app = make_app(tiny_index_dir, encoder, RELOAD_INTERVAL=0.1, WARM_UP=False)
    holder = app.extensions["tropesearch"]
    thread = holder._thread
    assert thread is not None and thread.is_alive()
    holder.close()
    assert not thread.is_alive()
    assert app.test_client().get("/readyz").get_json()["details"]["watching"] is False
