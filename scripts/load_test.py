#!/usr/bin/env python3
"""A bounded load test of a running tropesearch service, on loopback only.

N client threads (stdlib http.client, one keep-alive connection each) send a fixed mix of valid
requests (hybrid / dense / lexical searches over a deterministic set of queries, trope
autocomplete, stats, similar passages, the HTML page) for a fixed duration and at most a fixed
number of requests in all. Any transport error or non-200 answer is a failure. Meanwhile the
resident memory (VmRSS) of the server processes (a PID and all its descendants, e.g. the gunicorn
master and workers) is sampled.

    python scripts/load_test.py --url http://127.0.0.1:8000 --clients 32 --duration 60 \
        --max-requests 500000 --pid $(pgrep -o -f 'tropesearch serve') --json report.json

Reports: requests, failures (and the first few), requests/s, latency p50/p90/p99/max, status
codes, index versions that answered, and RSS of the server processes before, at peak and after.
Exit status 1 when any request failed. Only 127.0.0.0/8, ::1 and localhost are accepted as
targets: this is a test tool, never pointed at someone else's server.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import math
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

WORDS = ("alien", "love", "human", "captain", "queen", "robot", "cat", "water", "bath", "child", "ruler", "kingdom",
         "villain", "hero", "ship", "space", "green", "skin", "food", "eat", "fight", "girl", "action", "heal",
         "magic", "romance", "species", "first", "contact", "kiss", "monster", "vampire", "dragon", "war")
PHRASES = ("aliens seduce humans", "a cat refuses to take a bath", "child ruler of a kingdom",
           "captain kisses the alien queen", "love across species", "aliens love human food",
           "water heals wounds", "a woman who fights", "green skinned space babe")
PREFIXES = ("a", "al", "c", "ca", "g", "h", "in", "bo", "ac")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def request_mix(seed: int):
    """An endless deterministic stream of (label, path) for one client."""
    rng = random.Random(seed)
    while True:
        roll = rng.random()
        if roll < 0.7:
            q = rng.choice(PHRASES) if rng.random() < 0.5 else " ".join(rng.sample(WORDS, rng.randint(1, 4)))
            mode = rng.choice(("hybrid", "hybrid", "dense", "lexical"))
            group = rng.choice(("passage", "trope"))
            extra = f"&offset={rng.choice((0, 10))}" if rng.random() < 0.2 else ""
            yield f"search:{mode}", f"/api/search?q={quote(q)}&mode={mode}&group={group}&k=10{extra}"
        elif roll < 0.8:
            yield "tropes", f"/api/tropes?prefix={rng.choice(PREFIXES)}"
        elif roll < 0.85:
            yield "stats", "/api/stats"
        elif roll < 0.9:
            yield "healthz", "/healthz"
        else:
            yield "page", f"/?q={quote(rng.choice(PHRASES))}"


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    n_failures: int = 0
    requests: int = 0


def process_tree(pid: int) -> list[int]:
    """pid and all its live descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if os.path.exists(f"/proc/{p}"):
            out.append(p)
            todo.extend(children.get(p, []))
    return sorted(out)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_snapshot(pids: list[int]) -> dict[int, float]:
    """RSS (MB) of each given PID and its descendants."""
    out: dict[int, float] = {}
    for root in pids:
        for p in process_tree(root):
            value = rss_mb(p)
            if value is not None:
                out[p] = round(value, 1)
    return out


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


def run_load(url: str, clients: int = 32, duration: float = 60.0, max_requests: int = 500_000,
             pids: list[int] | None = None, timeout: float = 60.0, seed: int = 0,
             sample_every: float = 0.5) -> dict:
    """Run the load and return the report (a JSON-able dict)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if parts.scheme != "http" or not _is_loopback(host):
        raise ValueError(f"refusing {url!r}: only http:// on a loopback address (127.0.0.1, ::1, localhost)")
    if not (1 <= clients <= 1024 and 0 < duration <= 3600 and 1 <= max_requests <= 10_000_000):
        raise ValueError("clients 1..1024, duration (0, 3600] s, max_requests 1..10,000,000")
    pids = pids or []
    stats = Stats()
    lock = threading.Lock()
    budget = threading.Semaphore(max_requests)
    stop = threading.Event()
    rss_before = rss_snapshot(pids)
    rss_samples: list[tuple[float, dict[int, float]]] = []

    def client(i: int) -> None:
        mix = request_mix(seed * 1000 + i)
        conn = None
        mine: list[float] = []
        try:
            while not stop.is_set() and budget.acquire(blocking=False):
                label, path = next(mix)
                t0 = time.perf_counter()
                status, error, version = None, None, None
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(host, port, timeout=timeout)
                    conn.request("GET", path, headers={"Accept": "application/json" if path.startswith("/api")
                                                       else "text/html"})
                    resp = conn.getresponse()
                    body = resp.read()
                    status = resp.status
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    if status == 200 and label.startswith("search"):
                        version = json.loads(body).get("index_version")
                    elif status != 200:
                        error = f"{status} {body[:200]!r}"
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    if conn is not None:
                        conn.close()
                        conn = None
                elapsed = time.perf_counter() - t0
                mine.append(elapsed)
                with lock:
                    stats.requests += 1
                    stats.labels[label] += 1
                    stats.statuses[status or "error"] += 1
                    if version:
                        stats.versions[version] += 1
                    if error:
                        stats.n_failures += 1
                        if len(stats.failures) < 20:
                            stats.failures.append(f"{label} {path[:120]}: {error}")
        finally:
            if conn is not None:
                conn.close()
            with lock:
                stats.latencies.extend(mine)

    def sampler() -> None:
        while not stop.wait(sample_every):
            rss_samples.append((time.monotonic(), rss_snapshot(pids)))

    threads = [threading.Thread(target=client, args=(i,), name=f"load-client-{i}", daemon=True) for i in range(clients)]
    sampler_thread = threading.Thread(target=sampler, name="load-rss", daemon=True)
    started = time.monotonic()
    sampler_thread.start()
    for t in threads:
        t.start()
    deadline = started + duration
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    for t in threads:
        t.join(timeout + 5)
    sampler_thread.join(5)
    wall = time.monotonic() - started
    rss_after = rss_snapshot(pids)

    lat = sorted(stats.latencies)

    def total(snapshot: dict[int, float]) -> float:
        return round(sum(snapshot.values()), 1)

    peak = max((total(s) for _, s in rss_samples), default=total(rss_after))
    return {
        "url": url, "clients": clients, "duration_s": duration, "max_requests": max_requests,
        "wall_s": round(wall, 2),
        "requests": stats.requests, "failures": stats.n_failures, "failure_examples": stats.failures,
        "requests_per_s": round(stats.requests / wall, 1) if wall else None,
        "latency_ms": {name: round(v * 1000, 1) if v is not None else None for name, v in (
            ("p50", percentile(lat, 50)), ("p90", percentile(lat, 90)), ("p99", percentile(lat, 99)),
            ("max", lat[-1] if lat else None))},
        "statuses": {str(k): v for k, v in stats.statuses.items()},
        "requests_by_kind": dict(stats.labels),
        "index_versions": dict(stats.versions),
        "rss_mb": {
            "before": rss_before, "after": rss_after,
            "before_total": total(rss_before), "after_total": total(rss_after), "peak_total": peak,
            "growth_total": round(total(rss_after) - total(rss_before), 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="service base URL (loopback only)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (threads)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--max-requests", type=int, default=500_000, help="cap on requests in all")
    parser.add_argument("--pid", type=int, action="append", default=[],
                        help="server PID whose process tree's RSS is sampled (repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    try:
        report = run_load(args.url, args.clients, args.duration, args.max_requests, args.pid, args.timeout, args.seed)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    lat, rss = report["latency_ms"], report["rss_mb"]
    print(f"{report['requests']} requests in {report['wall_s']} s ({report['requests_per_s']}/s) from "
          f"{report['clients']} clients; failures {report['failures']}")
    print(f"latency ms: p50 {lat['p50']}, p90 {lat['p90']}, p99 {lat['p99']}, max {lat['max']}")
    print(f"index versions that answered: {report['index_versions']}")
    print(f"server RSS MB: before {rss['before_total']}, peak {rss['peak_total']}, after {rss['after_total']} "
          f"(growth {rss['growth_total']})")
    for failure in report["failure_examples"]:
        print(f"  failed: {failure}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
