"""Load: the real service (`tropesearch serve`, gunicorn) under 32 concurrent clients for 60 s on
loopback while two rebuilds publish new versions (and a third build is SIGKILLed mid-write):
zero failed requests, p99 reported, and the server's memory does not grow beyond a stated bound
across the swaps. The load generator is scripts/load_test.py (stdlib threads + http.client).

The fast tests check the load generator itself against an in-process server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from indexer.storage import current_version_id
from svc_fixtures import copy_version, make_app

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 32
DURATION_S = 60
MAX_REQUESTS = 1_000_000
RSS_GROWTH_BOUND_MB = 300      # the whole server (gunicorn master + workers), after vs before the load


def load_module():
    """scripts/load_test.py, imported (it is a script, not a package module)."""
    name = "tropesearch_load_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "load_test.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module     # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the load generator itself ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_server(tiny_index_dir, encoder):
    from werkzeug.serving import make_server

    app = make_app(tiny_index_dir, encoder, RELOAD_INTERVAL=0)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()
    thread.join(10)
    app.extensions["tropesearch"].close()


def test_load_generator_counts_and_bounds(local_server):
    load = load_module()
    report = load.run_load(local_server, clients=4, duration=2.0, max_requests=60, pids=[os.getpid()])
    assert report["requests"] == 60 and report["failures"] == 0, report["failure_examples"]
    assert report["wall_s"] < 10
    assert set(report["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert report["index_versions"] and report["rss_mb"]["before_total"] > 0


def test_load_generator_reports_failures(local_server):
    load = load_module()
    dead = f"http://127.0.0.1:{free_port()}"      # nothing listens there
    report = load.run_load(dead, clients=2, duration=1.0, max_requests=10, timeout=2)
    assert report["requests"] == 10 and report["failures"] == 10
    assert "ConnectionRefusedError" in report["failure_examples"][0]


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.1:8000", "https://127.0.0.1:8000",
                                 "http://0.0.0.0:8000"])
def test_load_generator_refuses_anything_but_loopback(url):
    with pytest.raises(ValueError, match="loopback"):
        load_module().run_load(url, clients=1, duration=1, max_requests=1)


# -- the real service under load while versions are published -----------------------------------------
def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 300, streak: int = 20) -> None:
    """Until /readyz answered 200 `streak` times in a row on fresh connections (every worker ready)."""
    deadline = time.monotonic() + timeout
    ok = 0
    while ok < streak:
        assert proc.poll() is None, "the server exited during start-up"
        assert time.monotonic() < deadline, "the server did not become ready"
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=10) as resp:
                resp.read()
                ok = ok + 1 if resp.status == 200 else 0
        except (urllib.error.URLError, OSError):
            ok = 0
            time.sleep(0.5)


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tropesearch_cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})


def killed_build(index_dir: Path, sources, stage: str = "writing sqlite") -> int:
    proc = subprocess.Popen([sys.executable, "-m", "tropesearch_cli.main", "-v", "build", *map(str, sources),
                             "--index-dir", str(index_dir), "--backend", "torch", "-q"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO),
                                                                   "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stderr:
            if line.rstrip().endswith(f"build stage: {stage}"):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return proc.returncode


@pytest.mark.slow
def test_32_clients_for_60_s_while_two_rebuilds_publish(tmp_path, tiny_index_dir, tiny_sources):
    load = load_module()
    index_dir = tmp_path / "index"
    v0 = copy_version(tiny_index_dir, index_dir)      # with the embedding cache: rebuilds never load the model
    seeds, jsonl = tiny_sources
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tropesearch_cli.main", "serve", "--index-dir", str(index_dir),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), "TROPESEARCH_RELOAD_INTERVAL": "1"})
    events: list[tuple[float, str]] = []
    try:
        wait_ready(base, server)
        # warm-up, so that first-request allocations are not counted as growth
        load.run_load(base, clients=8, duration=5, max_requests=400)

        def publisher(t0: float) -> None:
            for at, what in ((12, "build"), (24, "kill"), (36, "build")):
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                if what == "build":
                    sources = [seeds] if len(events) == 0 else [jsonl]
                    done = cli("build", *map(str, sources), "--index-dir", str(index_dir), "--backend", "torch", "-q", "--json")
                    if done.returncode != 0:
                        events.append((time.monotonic() - t0, f"build failed: {done.stderr[-1000:]}"))
                        continue
                    events.append((time.monotonic() - t0, f"published {json.loads(done.stdout)['version']}"))
                else:
                    rc = killed_build(index_dir, [seeds, jsonl])
                    events.append((time.monotonic() - t0, f"build SIGKILLed (rc {rc})"))

        t0 = time.monotonic()
        publishing = threading.Thread(target=publisher, args=(t0,), daemon=True)
        publishing.start()
        report = load.run_load(base, clients=CLIENTS, duration=DURATION_S, max_requests=MAX_REQUESTS,
                               pids=[server.pid])
        publishing.join(120)
        assert not publishing.is_alive()
        v2 = current_version_id(index_dir)
        with urllib.request.urlopen(base + "/api/stats") as resp:
            served = json.load(resp)["version"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    published = [e for _, e in events if e.startswith("published")]
    figures = {
        "clients": CLIENTS, "duration_s": DURATION_S, "requests": report["requests"],
        "failures": report["failures"], "requests_per_s": report["requests_per_s"],
        "latency_ms": report["latency_ms"], "index_versions": report["index_versions"],
        "rss_mb_before": report["rss_mb"]["before_total"], "rss_mb_peak": report["rss_mb"]["peak_total"],
        "rss_mb_after": report["rss_mb"]["after_total"], "rss_growth_mb": report["rss_mb"]["growth_total"],
        "rss_growth_bound_mb": RSS_GROWTH_BOUND_MB, "events": events,
    }
    print("LOAD FIGURES " + json.dumps(figures))
    (tmp_path / "load-figures.json").write_text(json.dumps({**figures, "report": report}, indent=2))

    assert report["failures"] == 0, report["failure_examples"]
    assert report["requests"] >= 1000, report
    assert len(published) == 2, events
    # the swaps happened under load: the first version and both new ones answered requests
    assert v0 in report["index_versions"] and v2 in report["index_versions"] and len(report["index_versions"]) == 3, \
        (report["index_versions"], events)
    assert served == v2
    assert report["rss_mb"]["growth_total"] < RSS_GROWTH_BOUND_MB, report["rss_mb"]
    assert report["latency_ms"]["p99"] is not None
