"""Shared bits: paths, printing, percentiles, child processes with their own peak RSS, targets, machine info."""

from __future__ import annotations

import json
from importlib import metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def say(*parts) -> None:
    print(*parts, flush=True)


def percentiles(values_ms: list[float]) -> dict:
    """p50/p99/mean/max of latencies in ms (linear interpolation, like numpy's default)."""
    if not values_ms:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    xs = sorted(values_ms)

    def pct(p: float) -> float:
        pos = (len(xs) - 1) * p / 100
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return {"n": len(xs), "p50_ms": round(pct(50), 3), "p99_ms": round(pct(99), 3),
            "mean_ms": round(statistics.fmean(xs), 3), "max_ms": round(xs[-1], 3)}


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TROPESEARCH_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(SCRIPTS)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra)
    return env


@dataclass
class ChildResult:
    returncode: int
    seconds: float
    peak_rss_mb: float          # ru_maxrss of this child (and the children it waited for), from wait4
    stdout: str
    stderr: str
    json: dict | None = field(default=None)


def run_child(cmd: list[str], log_dir: Path, name: str, *, env: dict | None = None, echo: bool = False,
              timeout: float | None = None) -> ChildResult:
    """Run `cmd` to completion; stdout/stderr go to files under log_dir (nothing can block on a pipe).

    Peak memory comes from os.wait4 on this child alone, so it is per run, not the max over all
    children so far (which is what RUSAGE_CHILDREN would give). With `echo`, stdout is streamed
    to ours as it is written. The last line of stdout that parses as a JSON object becomes `.json`.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    t0 = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env or child_env(), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        status, rusage = None, None
        with open(out_path) as follow:
            try:
                status, rusage = _wait(proc, follow, echo, t0, timeout)
            except BaseException:   # Ctrl-C or an error here: the child (its own session) must not outlive us
                try:
                    os.killpg(proc.pid, 9)
                    os.wait4(proc.pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
                proc.returncode = -9
                raise
            if echo:
                rest = follow.read()
                if rest:
                    sys.stdout.write(rest)
                    sys.stdout.flush()
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    stdout, stderr = out_path.read_text(), err_path.read_text()
    parsed = None
    try:  # a whole-stdout JSON document (`tropesearch build --json`) or a last JSON line (workers)
        parsed = json.loads(stdout)
    except ValueError:
        for line in reversed(stdout.strip().splitlines()):
            if line.startswith("{"):
                try:
                    parsed = json.loads(line)
                    break
                except ValueError:
                    continue
    return ChildResult(proc.returncode, seconds, rusage.ru_maxrss / 1024 if rusage else 0.0, stdout, stderr, parsed)


def _wait(proc, follow, echo: bool, t0: float, timeout: float | None):
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if echo:
            chunk = follow.read()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
        if pid:
            return status, rusage
        if timeout is not None and time.perf_counter() - t0 > timeout:
            os.killpg(proc.pid, 9)
            _, status, rusage = os.wait4(proc.pid, 0)
            return status, rusage
        time.sleep(0.05)


def check_child(res: ChildResult, what: str) -> dict:
    if res.returncode != 0 or res.json is None:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed (exit {res.returncode}):\n{tail}")
    return res.json


# -- targets ---------------------------------------------------------------------------------------
class Targets:
    """Collects target checks; each prints as `PASS`/`FAIL` beside its figure."""

    def __init__(self, indicative: bool):
        self.indicative = indicative   # a subset or another corpus: the targets name ../shared/corpus
        self.rows: list[dict] = []

    def check(self, name: str, value, op: str, limit, unit: str = "", missing_fails: bool = False) -> str:
        """Record one check; a None value is `n/a` (not measured), or FAIL with missing_fails (nothing qualified)."""
        if value is None:
            ok = False if missing_fails else None
        else:
            ok = value <= limit if op == "<=" else value >= limit
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        self.rows.append({"name": name, "value": value, "op": op, "target": limit, "unit": unit,
                          "pass": ok, "indicative": self.indicative})
        mark = verdict + (" (indicative: not the full corpus)" if self.indicative and ok is not None else "")
        return f"[target {op} {limit}{unit}: {mark}]"


def fmt(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


# -- machine ---------------------------------------------------------------------------------------
def machine_info() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for dist in ("numpy", "torch", "sentence-transformers", "transformers", "onnxruntime", "faiss-cpu", "flask",
                 "gunicorn", "tropesearch"):
        try:
            versions[dist] = metadata.version(dist)   # no import: torch would cost this process seconds and RAM
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_model": cpu, "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": mem_gb, "python": platform.python_version(), "platform": platform.platform(),
        "versions": versions, "loadavg_at_start": load,
    }


# -- index versions (read directly: importing indexer.storage would load faiss into this process) --------
def current_version_dir(index_dir: Path) -> Path:
    version = (Path(index_dir) / "CURRENT").read_text(encoding="utf-8").strip()
    return Path(index_dir) / "versions" / version


def index_passages(index_dir: Path) -> int:
    manifest = json.loads((current_version_dir(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    return int(manifest["counts"]["passages"])
