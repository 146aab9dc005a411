"""Faults during builds and in the index on disk: nothing published is ever lost.

- SIGKILL of a `tropesearch build` (a real CLI subprocess) at every named stage (parsing, chunking,
  embedding, indexing, writing sqlite/vectors/faiss, publishing = switching CURRENT) and at random
  moments: CURRENT still names a complete version that loads and answers a vector search, every
  version directory under its final name loads, a service watching the index dir answers 200
  throughout, and the next build succeeds and is picked up;
- damaged version directories (FAISS file cut short or garbage, SQLite garbage, vectors garbage,
  manifest missing / not JSON / not an object / without its sections, CURRENT unreadable): loading
  refuses with a `CorruptIndexError` naming the version and the file; a service keeps serving the
  last good version and /readyz reports why;
- disk full (a small tmpfs as the index dir; without mount rights, a file-size limit instead):
  the build fails with `Error: ...` (exit 1, no traceback), leaves no partial version behind, the
  published version still loads, and once there is room the next build succeeds.

The kills run the CLI with the embedding cache warm (copied with the tiny index), so a build takes
about a second and never loads the model; the kill during real encoding is in test_build.py.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.build import BuildOptions, build_index
from indexer.errors import CorruptIndexError, IndexError_
from indexer.storage import (CURRENT_NAME, DB_FILE, FAISS_FILE, MANIFEST_FILE, VECTORS_FILE, current_version_id,
                             list_versions, load_version, versions_dir)
from svc_fixtures import copy_version, make_app

REPO = Path(__file__).resolve().parents[1]
STAGES = ("parsing", "chunking", "embedding", "indexing", "writing", "writing sqlite", "writing vectors",
          "writing faiss", "publishing")
QUERIES = ("aliens seduce humans", "a cat refuses to take a bath", "love across species")


# -- helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def index_dir(tmp_path, tiny_index_dir) -> Path:
    """A private copy of the tiny index (published version + warm embedding cache)."""
    dst = tmp_path / "index"
    copy_version(tiny_index_dir, dst)
    return dst


@pytest.fixture
def subset_sources(tiny_sources) -> list[Path]:
    """Sources that build a version different from the tiny index (seeds only), all embeddings cached."""
    return [tiny_sources[0]]


def assert_answers(index_dir: Path, encoder, expect: str | None = None) -> str:
    """CURRENT names a version that loads and answers a vector search; returns its id."""
    version = load_version(index_dir)
    if expect is not None:
        assert version.version_id == expect
    q = encoder.encode([QUERIES[0]])
    scores, rows = version.search_vectors(q, 5)
    assert (rows >= 0).all() and np.isfinite(scores).all()
    with version.connect() as conn:
        assert conn.execute("SELECT count(*) FROM passages").fetchone()[0] == version.count
    conn.close()
    return version.version_id


def assert_every_named_version_loads(index_dir: Path) -> None:
    """A version directory under its final name is always complete (temp dirs are hidden .tmp-*)."""
    for vid in list_versions(index_dir):
        load_version(index_dir, vid)


def cli_build(index_dir: Path, sources, *, kill_at: str | None = None, delay: float = 0.0,
              kill_after: float | None = None, timeout: float = 120) -> tuple[int, str, list[str]]:
    """Run `tropesearch -v build` as a subprocess. With `kill_at`, SIGKILL it `delay` s after it logs
    `build stage: <kill_at>`; with `kill_after`, that many seconds after it starts. Returns
    (return code, stderr, stages seen)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tropesearch_cli.main", "-v", "build", *map(str, sources),
           "--index-dir", str(index_dir), "--backend", "torch", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    stages: list[str] = []
    killer = None
    if kill_after is not None:
        killer = threading.Timer(kill_after, lambda: proc.poll() is None and proc.send_signal(signal.SIGKILL))
        killer.start()
    try:
        deadline = time.monotonic() + timeout
        for line in proc.stderr:
            lines.append(line)
            if "build stage: " in line:
                stages.append(line.rstrip().split("build stage: ", 1)[1])
                if kill_at is not None and stages[-1] == kill_at:
                    if delay:
                        time.sleep(delay)
                    proc.send_signal(signal.SIGKILL)
                    break
            if time.monotonic() > deadline:
                proc.kill()
                break
        proc.wait(timeout=timeout)
        rest = proc.stderr.read().splitlines(keepends=True)
        lines.extend(rest)
        # what it got to between the stage we waited for and the kill
        stages.extend(line.rstrip().split("build stage: ", 1)[1] for line in rest if "build stage: " in line)
    finally:
        if killer is not None:
            killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return proc.returncode, "".join(lines), stages


class Watcher:
    """A service on the index dir (in-process app, watcher every 0.1 s) and two threads searching it
    non-stop; every response is recorded."""

    def __init__(self, index_dir: Path, encoder):
        self.app = make_app(index_dir, encoder, RELOAD_INTERVAL=0.1, WARM_UP=False)
        self.holder = self.app.extensions["tropesearch"]
        self.stop = threading.Event()
        self.records: list[tuple[int, str | None]] = []
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(2)]

    def _run(self, i: int) -> None:
        client = self.app.test_client()
        n = 0
        try:
            while not self.stop.is_set():
                resp = client.get("/api/search", query_string={"q": QUERIES[(i + n) % len(QUERIES)], "k": 5,
                                                               "mode": ("dense", "lexical")[n % 2]})
                self.records.append((resp.status_code, (resp.get_json(silent=True) or {}).get("index_version")))
                n += 1
                time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        self.holder.close()

    def wait_for_requests(self, n: int, timeout: float = 30) -> None:
        target = len(self.records) + n
        deadline = time.monotonic() + timeout
        while len(self.records) < target and time.monotonic() < deadline:
            time.sleep(0.01)

    def check(self) -> None:
        assert not self.errors, self.errors
        failures = [r for r in self.records if r[0] != 200]
        assert self.records and not failures, f"{len(failures)} of {len(self.records)} requests failed: {failures[:5]}"


def rebuild_in_process(index_dir: Path, sources, encoder) -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("indexer.encoding.load_encoder", lambda *a, **k: encoder)
        return build_index(BuildOptions(sources=list(sources), index_dir=index_dir, backend="torch")).version_id


def kill_and_check(index_dir: Path, sources, encoder, *, kill_at=None, delay=0.0, kill_after=None) -> dict:
    """One SIGKILL'd build under a watching service, then the checks and a good rebuild."""
    before = current_version_id(index_dir)
    with Watcher(index_dir, encoder) as watcher:
        watcher.wait_for_requests(5)
        rc, stderr, stages = cli_build(index_dir, sources, kill_at=kill_at, delay=delay, kill_after=kill_after)
        watcher.wait_for_requests(5)
        assert "Traceback" not in stderr, stderr[-3000:]
        after = current_version_id(index_dir)
        killed = rc == -signal.SIGKILL
        if killed and "publishing" not in stages:
            assert after == before, f"CURRENT moved to {after} though the build died at {stages[-1:]}"
        # whatever moment it died at, CURRENT names a complete version that answers
        assert_answers(index_dir, encoder, expect=after)
        assert_every_named_version_loads(index_dir)
        # the next build takes the lock, succeeds and is served
        new = rebuild_in_process(index_dir, sources, encoder)
        assert current_version_id(index_dir) == new
        watcher.holder.check_now()
        assert watcher.holder.engine.version_id == new
        watcher.wait_for_requests(5)
        watcher.check()
        served = {v for _, v in watcher.records}
    assert_answers(index_dir, encoder, expect=new)
    return {"rc": rc, "stages": stages, "before": before, "after": after, "new": new, "served": served,
            "requests": len(watcher.records)}


# -- SIGKILL at each stage ---------------------------------------------------------------------------
def test_sigkill_while_writing_faiss(index_dir, subset_sources, encoder):
    result = kill_and_check(index_dir, subset_sources, encoder, kill_at="writing faiss")
    assert result["rc"] == -signal.SIGKILL, result


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_at_every_build_stage(index_dir, subset_sources, encoder, stage):
    result = kill_and_check(index_dir, subset_sources, encoder, kill_at=stage)
    assert stage in result["stages"]
    assert result["rc"] in (-signal.SIGKILL, 0), result
    if stage != "publishing":
        assert result["rc"] == -signal.SIGKILL, f"the build finished before the kill at {stage}: {result}"


@pytest.mark.slow
def test_sigkill_at_random_moments(index_dir, subset_sources, encoder):
    """Twelve builds killed at random delays after a random stage: after each, CURRENT answers."""
    rng = random.Random(7)
    outcomes = []
    for _ in range(12):
        stage = rng.choice(STAGES)
        delay = rng.choice([0.0, 0.001, 0.005, 0.02, 0.05, 0.1])
        result = kill_and_check(index_dir, subset_sources, encoder, kill_at=stage, delay=delay)
        outcomes.append((stage, delay, result["rc"], result["after"] != result["before"]))
    print("kills (stage, delay s, rc, CURRENT moved):", outcomes)
    assert sum(rc == -signal.SIGKILL for _, _, rc, _ in outcomes) >= 8


@pytest.mark.slow
def test_sigkill_while_the_model_encodes(tmp_path, index_dir, tiny_sources, encoder):
    """A build with cache misses loads the model and encodes; killed then, nothing is lost and the
    embedding cache it was filling still works for the next build."""
    extra = tmp_path / "extra"
    extra.mkdir()
    lines = [json.dumps({"trope_id": f"FreshTrope{i}", "title": f"Fresh Trope {i}",
                         "description": f"A brand new trope number {i} about {w} that nobody has embedded yet.",
                         "examples": [{"media": "Film", "work": f"Work {i}", "text": f"An example {i} with {w}."}]})
             # 1,800 records (3,600 passages): still encoding 8 s into the stage on a fast, quiet machine
             for i, w in enumerate(["dragons", "robots", "pirates", "ghosts", "spies", "clowns"] * 300)]
    (extra / "fresh.jsonl").write_text("\n".join(lines) + "\n")
    result = kill_and_check(index_dir, [*tiny_sources, extra], encoder, kill_at="embedding", delay=8.0)
    assert result["rc"] == -signal.SIGKILL and result["after"] == result["before"], result


# -- damaged version directories ----------------------------------------------------------------------
def _cut(name: str, keep: int):
    def damage(vdir: Path) -> None:
        data = (vdir / name).read_bytes()
        (vdir / name).write_bytes(data[:keep])
    return damage


def _garbage(name: str, zero: bool = False):
    """Same size (so the manifest's byte count still matches), content garbage."""
    def damage(vdir: Path) -> None:
        n = (vdir / name).stat().st_size
        (vdir / name).write_bytes(bytes(n) if zero else random.Random(n).randbytes(n))
    return damage


def _faiss_cut_and_manifest_agrees(vdir: Path) -> None:
    _cut(FAISS_FILE, 1000)(vdir)
    _manifest_edit(lambda m: m["files"][FAISS_FILE].update(bytes=1000))(vdir)


def _manifest_edit(edit):
    def damage(vdir: Path) -> None:
        manifest = json.loads((vdir / MANIFEST_FILE).read_text())
        edit(manifest)
        (vdir / MANIFEST_FILE).write_text(json.dumps(manifest))
    return damage


def _write(name: str, data: bytes):
    def damage(vdir: Path) -> None:
        (vdir / name).write_bytes(data)
    return damage


def _delete(name: str):
    def damage(vdir: Path) -> None:
        (vdir / name).unlink()
    return damage


# name -> (damage, what the message must name)
DAMAGE = {
    "faiss_truncated": (_cut(FAISS_FILE, 5000), FAISS_FILE),
    "faiss_cut_manifest_agrees": (_faiss_cut_and_manifest_agrees, FAISS_FILE),
    "faiss_garbage": (_garbage(FAISS_FILE), FAISS_FILE),
    "faiss_zeroed": (_garbage(FAISS_FILE, zero=True), FAISS_FILE),
    "faiss_missing": (_delete(FAISS_FILE), FAISS_FILE),
    "sqlite_garbage": (_garbage(DB_FILE), DB_FILE),
    "sqlite_truncated": (_cut(DB_FILE, 4096), DB_FILE),
    "sqlite_empty": (_write(DB_FILE, b""), DB_FILE),
    "vectors_garbage": (_garbage(VECTORS_FILE), VECTORS_FILE),
    "vectors_truncated": (_cut(VECTORS_FILE, 1000), VECTORS_FILE),
    "manifest_missing": (_delete(MANIFEST_FILE), MANIFEST_FILE),
    "manifest_not_json": (_write(MANIFEST_FILE, b"{\"format_version\": 1, \"mod"), MANIFEST_FILE),
    "manifest_binary": (_write(MANIFEST_FILE, b"\xff\xfe\x00\x01garbage"), MANIFEST_FILE),
    "manifest_not_an_object": (_write(MANIFEST_FILE, b"[1, 2, 3]"), MANIFEST_FILE),
    "manifest_without_model": (_manifest_edit(lambda m: m.pop("model")), MANIFEST_FILE),
    "manifest_without_index": (_manifest_edit(lambda m: m.pop("index")), MANIFEST_FILE),
    "manifest_counts_wrong": (_manifest_edit(lambda m: m["counts"].update(passages=3)), "manifest"),
}


def damaged_copy(index_dir: Path, name: str, new_id: str = "29990101T000000-bad000", publish: bool = True) -> Path:
    """A copy of the published version under `new_id`, damaged, and (optionally) CURRENT pointed at
    it by writing the file directly (publish_version would refuse some of these)."""
    src = versions_dir(index_dir) / current_version_id(index_dir)
    dst = versions_dir(index_dir) / new_id
    shutil.copytree(src, dst)
    DAMAGE[name][0](dst)
    if publish:
        (index_dir / CURRENT_NAME).write_text(new_id + "\n", encoding="utf-8")
    return dst


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_a_damaged_version_is_refused_with_a_clear_message(index_dir, name):
    vdir = damaged_copy(index_dir, name)
    with pytest.raises(CorruptIndexError) as err:
        load_version(index_dir)
    message = str(err.value)
    assert str(vdir) in message, message                     # which version
    assert DAMAGE[name][1] in message, message               # which file
    assert "\n" not in message and len(message) < 600, message


@pytest.mark.parametrize("content,what", [
    (b"\xff\xfe\x80not a version id\n", "CURRENT not UTF-8"),
    (None, "CURRENT is a directory"),
])
def test_an_unreadable_current_is_a_clear_index_error(index_dir, content, what):
    current = index_dir / CURRENT_NAME
    current.unlink()
    if content is None:
        current.mkdir()
    else:
        current.write_bytes(content)
    with pytest.raises(IndexError_) as err:
        load_version(index_dir)
    assert "CURRENT" in str(err.value), f"{what}: {err.value}"


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_the_service_stays_on_the_last_good_version(index_dir, encoder, name):
    app = make_app(index_dir, encoder, RELOAD_INTERVAL=0, WARM_UP=False)
    holder = app.extensions["tropesearch"]
    try:
        client = app.test_client()
        good = holder.engine.version_id
        damaged_copy(index_dir, name)
        assert holder.check_now() is False
        assert holder.engine.version_id == good
        ready = client.get("/readyz")
        assert ready.status_code == 200
        details = ready.get_json()["details"]
        assert details["index_version"] == good and details["published_version"] == "29990101T000000-bad000"
        error = details["last_error"]
        assert error["code"] == "corrupt_index", error
        assert "29990101T000000-bad000" in error["message"] and DAMAGE[name][1] in error["message"], error
        search = client.get("/api/search", query_string={"q": "aliens seduce humans"})
        assert search.status_code == 200 and search.get_json()["index_version"] == good
        assert client.get("/api/stats").get_json()["version"] == good
    finally:
        holder.close()


@pytest.mark.parametrize("content", [b"\xff\xfe\x80garbage\n", None])
def test_the_service_survives_an_unreadable_current(index_dir, encoder, content):
    app = make_app(index_dir, encoder, RELOAD_INTERVAL=0, WARM_UP=False)
    holder = app.extensions["tropesearch"]
    try:
        client = app.test_client()
        good = holder.engine.version_id
        current = index_dir / CURRENT_NAME
        current.unlink()
        current.mkdir() if content is None else current.write_bytes(content)
        assert holder.check_now() is False
        assert holder.engine.version_id == good
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.get_data(as_text=True)[:500]
        assert ready.get_json()["details"]["last_error"] is not None
        assert client.get("/api/search", query_string={"q": "love"}).status_code == 200
    finally:
        holder.close()


def test_a_service_started_on_a_garbage_current_starts_and_says_why(index_dir, encoder):
    (index_dir / CURRENT_NAME).write_bytes(b"\xff\xfe\x80garbage\n")
    app = make_app(index_dir, encoder, RELOAD_INTERVAL=0, WARM_UP=False)
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "CURRENT" in ready.get_json()["error"]["message"]
    finally:
        app.extensions["tropesearch"].close()


def test_the_cli_refuses_a_damaged_index_without_a_traceback(index_dir):
    damaged_copy(index_dir, "manifest_not_an_object")
    proc = subprocess.run([sys.executable, "-m", "tropesearch_cli.main", "info", "--index-dir", str(index_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.startswith("Error:") and "manifest.json" in proc.stderr


# -- disk full -----------------------------------------------------------------------------------------
def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted at tmp_path/disk (resized by the test); skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = _run("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)) if shutil.which("mount") else None
    if proc is None or proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() if proc else 'no mount command'}); "
                    "the file-size-limit variant covers disk-full")
    try:
        yield mnt
    finally:
        if _run("umount", str(mnt)).returncode != 0:
            _run("umount", "-l", str(mnt))


def _resize(mnt: Path, size_kb: int) -> None:
    proc = _run("mount", "-o", f"remount,size={size_kb}k", str(mnt))
    assert proc.returncode == 0, proc.stderr


def _used_kb(mnt: Path) -> int:
    st = os.statvfs(mnt)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def _file_kb(path: Path) -> int:
    return -(-path.stat().st_size // 4096) * 4


def check_failed_cleanly(index_dir: Path, before: str, rc: int, stderr: str, encoder) -> None:
    # nothing lost, nothing half-written left behind...
    assert current_version_id(index_dir) == before
    assert_answers(index_dir, encoder, expect=before)
    assert list_versions(index_dir) == [before], "a partial version was left under a version name"
    leftovers = [p.name for p in versions_dir(index_dir).iterdir() if p.name.startswith(".tmp-")]
    assert not leftovers, f"temp dirs left behind: {leftovers}"
    # ... and the user is told, in one line, not with a traceback
    assert rc == 1, f"exit {rc}: {stderr[-2000:]}"
    assert "Traceback" not in stderr, f"a traceback instead of an error message:\n{stderr[-2500:]}"
    error_lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert error_lines, stderr[-2000:]
    assert any(word in error_lines[0].lower() for word in ("space", "full", "too large", "write")), error_lines[0]


# headroom on the disk for the new version's files, as a function of the published version's
# file sizes (kB): the write that runs out of space
DISK_FULL_AT = {
    "sqlite": lambda kb: kb[DB_FILE] // 2,
    "vectors": lambda kb: kb[DB_FILE] + kb[VECTORS_FILE] // 2,
    "faiss": lambda kb: kb[DB_FILE] + kb[VECTORS_FILE] + kb[FAISS_FILE] // 2,
}


@pytest.mark.parametrize("where", list(DISK_FULL_AT))
def test_disk_full_during_a_build_fails_cleanly(small_disk, tiny_index_dir, tiny_sources, encoder, where):
    """The build rewrites the published sources (same file sizes, new version id) on a disk with
    room for only part of the new version."""
    index_dir = small_disk / "index"
    before = copy_version(tiny_index_dir, index_dir)
    kb = {name: _file_kb(versions_dir(index_dir) / before / name) for name in (DB_FILE, VECTORS_FILE, FAISS_FILE)}
    _resize(small_disk, _used_kb(small_disk) + max(8, DISK_FULL_AT[where](kb)))
    rc, stderr, stages = cli_build(index_dir, tiny_sources)
    assert f"writing {where}" in stages, stages
    check_failed_cleanly(index_dir, before, rc, stderr, encoder)
    # room again: the next build succeeds
    _resize(small_disk, 64 * 1024)
    rc, stderr, _ = cli_build(index_dir, tiny_sources)
    assert rc == 0, stderr[-2000:]
    assert current_version_id(index_dir) != before
    assert_answers(index_dir, encoder)


def test_file_size_limit_during_a_build_fails_cleanly(index_dir, tiny_sources, encoder):
    """The same without mount rights: RLIMIT_FSIZE makes every write past 512 kB fail (EFBIG)."""
    before = current_version_id(index_dir)
    code = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 19, 1 << 19)); "
            f"sys.argv = ['tropesearch', 'build', *{[str(s) for s in tiny_sources]!r}, '--index-dir', "
            f"{str(index_dir)!r}, '--backend', 'torch', '-q']; runpy.run_module('tropesearch_cli.main', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    check_failed_cleanly(index_dir, before, proc.returncode, proc.stderr, encoder)
