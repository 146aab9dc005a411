"""The benchmark harness runs end to end on a tiny configuration and writes valid JSON and a report.

Never asserts a speed: the figures of a benchmark are printed, not tested.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow   # builds an index, starts gunicorn: a minute or more


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_bench_runs_end_to_end(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--sections", "build,query,http",
         "--corpus", str(REPO / "data" / "sample" / "seeds"), "--backends", "torch", "--n-queries", "20",
         "--http-seconds", "3", "--http-requests", "50", "--out", str(out), "--workdir", str(tmp_path / "w")],
        cwd=REPO, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["errors"] == {}
    assert results["meta"]["indicative"] is True and results["meta"]["machine"]["cores"] >= 1

    torch_build = results["build"]["backends"]["torch"]
    for figure in (torch_build["cold"]["passages"], torch_build["cold"]["seconds"], torch_build["cold"]["passages_per_s"],
                   torch_build["cold"]["peak_rss_mb"], torch_build["rebuild"]["seconds"], torch_build["ratio_to_plain"],
                   torch_build["rebuild_fraction"], results["build"]["plain"]["passages_per_s"]):
        assert _positive(figure), torch_build
    assert torch_build["rebuild"]["reused"] == torch_build["cold"]["passages"]
    assert torch_build["rebuild"]["computed"] == 0

    # the index is built by torch; queries use the fastest backend that agrees with it (fp32 ONNX)
    modes = results["query"]["backends"]["onnx"]["modes"]
    assert set(modes) == {"dense", "lexical", "hybrid"}
    for entry in modes.values():
        assert entry["n"] == 20 and _positive(entry["p50_ms"]) and _positive(entry["p99_ms"])

    (run,) = results["http"]["runs"].values()
    assert _positive(run["cold_start_s"]) and _positive(run["rss_bytes_per_passage"])
    assert set(run["levels"]) == {"1", "8", "32"}
    for level in run["levels"].values():
        assert 0 < level["requests"] <= 50
        assert level["errors"] == 0, level["errors_by_kind"]
        assert _positive(level["throughput_qps"]) and _positive(level["p50_ms"])

    names = {t["name"] for t in results["targets"]}
    assert {"build.torch.ratio_to_plain", "query.onnx.hybrid.p50_ms", "http.onnx/w2.c8.throughput_qps"} <= names
    assert all(t["indicative"] for t in results["targets"])

    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Targets" in report and "## Build" in report and "## HTTP" in report
    assert (tmp_path / "report.png").stat().st_size > 0
    assert not list((tmp_path / "w").glob("run-*")), "the work dir is cleaned without --keep"
