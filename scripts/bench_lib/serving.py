"""`tropesearch serve` on loopback: start, cold start to /readyz, closed-loop HTTP load, memory of the processes."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from bench_lib.common import REPO, child_env, percentiles

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 5.0) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class Server:
    """One `tropesearch serve` (gunicorn) in its own session; `stop()` ends that process group only."""

    def __init__(self, index_dir: Path, log: Path, *, workers: int, threads: int, backend: str):
        self.port = free_port()
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log, "w")
        cmd = [sys.executable, "-m", "tropesearch_cli.main", "serve", "--index-dir", str(index_dir), "--host", HOST,
               "--port", str(self.port), "--workers", str(workers), "--threads", str(threads),
               "--backend", backend]
        env = child_env(TROPESEARCH_LOG_LEVEL="WARNING")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_for(self, path: str = "/readyz", timeout: float = 300.0) -> float:
        """Seconds from process start to the first 200 on `path` (polled every 20 ms)."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before {path} was 200; "
                                   f"log: {self.log_path}\n" + self.log_path.read_text()[-2000:])
            try:
                if get(self.port, path, timeout=2.0) == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"server not ready on {path} after {timeout:.0f} s; log: {self.log_path}")

    def pids(self) -> list[int]:
        """The master and every descendant (gunicorn workers), from /proc/<pid>/task/*/children."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    todo += [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    pass
        return out

    def memory(self) -> dict:
        """RSS (shared pages counted once per process) and PSS (shared pages split) of all processes, MiB."""
        rss = pss = 0
        per = {}
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                r = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue
            p = None
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                p = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
            except (OSError, StopIteration):
                pass
            rss += r
            pss += p or 0
            per[pid] = round(r / 1024, 1)
        return {"rss_mb": round(rss / 1024, 1), "pss_mb": round(pss / 1024, 1) if pss else None,
                "processes": len(per), "rss_mb_by_pid": per}

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=30)
            else:  # the master is gone; make sure no orphaned worker of its group lingers
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            self.log.close()


def load(port: int, texts: list[str], concurrency: int, max_requests: int, max_seconds: float, k: int = 10,
         mode: str = "hybrid") -> dict:
    """Closed loop: `concurrency` threads, keep-alive connections, until max_requests or max_seconds."""
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + max_seconds

    def take() -> int | None:
        with lock:
            i = state["next"]
            if i >= max_requests or time.perf_counter() >= deadline:
                return None
            state["next"] = i + 1
            return i

    def client() -> None:
        conn = None
        try:
            while (i := take()) is not None:
                path = f"/api/search?q={urllib.parse.quote(texts[i % len(texts)])}&k={k}&mode={mode}"
                t = time.perf_counter()
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(HOST, port, timeout=60)
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    resp.read()
                    dt = (time.perf_counter() - t) * 1000
                    with lock:
                        if resp.status == 200:
                            latencies.append(dt)
                        else:
                            errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                    if resp.will_close:
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    if conn is not None:
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 120)
    elapsed = time.perf_counter() - t0
    n_err = sum(errors.values())
    return {"concurrency": concurrency, "requests": len(latencies) + n_err, "ok": len(latencies), "errors": n_err,
            "errors_by_kind": errors, "seconds": round(elapsed, 3),
            "throughput_qps": round(len(latencies) / elapsed, 2) if elapsed else None, **percentiles(latencies)}
