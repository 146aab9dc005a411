"""Build section: cold build and no-change rebuild per backend, beside a plain sentence-transformers encode."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bench_lib.common import Targets, check_child, fmt, run_child, say

# passages/s of the cold build over plain sentence-transformers fp32 encode of the same passages
RATIO_TARGETS = {"torch": 0.9, "onnx": 0.9, "onnx-int8": 1.3}
REBUILD_FRACTION = 0.10


def build_cmd(sources: list[Path], index_dir: Path, backend: str) -> list[str]:
    return [sys.executable, "-m", "tropesearch_cli.main", "build", *map(str, sources), "--index-dir", str(index_dir),
            "--backend", backend, "--json", "-q"]


def one_build(sources, index_dir, backend, logs, name) -> dict:
    res = run_child(build_cmd(sources, index_dir, backend), logs, name)
    summary = check_child(res, f"build ({backend}, {name})")
    passages = summary["passages"]
    return {
        "passages": passages, "pages": summary["pages"], "tropes": summary["tropes"],
        "computed": summary["embeddings"]["computed"], "reused": summary["embeddings"]["reused"],
        "seconds": summary["seconds"], "process_seconds": round(res.seconds, 3),
        "passages_per_s": round(passages / summary["seconds"], 2) if summary["seconds"] else None,
        "stage_seconds": summary["stage_seconds"], "index_type": summary["index_type"],
        "peak_rss_mb": round(res.peak_rss_mb, 1),
    }


def run(sources: list[Path], workdir: Path, backends: list[str], targets: Targets, plain_each: bool) -> dict:
    logs = workdir / "logs"
    say(f"== build: {', '.join(backends)} over {', '.join(map(str, sources))}")
    onnx = [b for b in backends if b.startswith("onnx")]
    if onnx:
        prep = check_child(run_child([sys.executable, "-m", "bench_lib.workers", "prepare", *onnx], logs, "prepare"),
                           "preparing the ONNX encoders")
        say(f"   ONNX models ready (load s: {prep['load_seconds']}; a one-time export is never timed as a build)")
    out = {"backends": {}, "plain": None, "index_dirs": {}}
    plain = None
    for backend in backends:
        index_dir = workdir / f"index-{backend}"
        if index_dir.exists():
            shutil.rmtree(index_dir)   # fresh index dir: a fresh embedding cache
        cold = one_build(sources, index_dir, backend, logs, f"build-{backend}-cold")
        say(f"   {backend:9s} cold build: {cold['passages']} passages in {cold['seconds']:.1f} s = "
            f"{cold['passages_per_s']:.1f} passages/s, peak RSS {cold['peak_rss_mb']:.0f} MiB, stages {cold['stage_seconds']}")
        if plain is None or plain_each:
            res = run_child([sys.executable, "-m", "bench_lib.workers", "plain", str(index_dir)], logs, f"plain-{backend}")
            plain = check_child(res, "plain sentence-transformers encode")
            plain["peak_rss_mb"] = round(res.peak_rss_mb, 1)
            out["plain"] = out["plain"] or plain
            say(f"   plain sentence-transformers fp32 encode: {plain['passages']} passages in "
                f"{plain['encode_seconds']:.1f} s = {plain['passages_per_s']:.1f} passages/s "
                f"(model load {plain['load_seconds']:.1f} s not counted), peak RSS {plain['peak_rss_mb']:.0f} MiB")
            if plain["passages"] != cold["passages"]:
                say(f"   WARNING: plain encoded {plain['passages']} texts, the build has {cold['passages']} passages")
        rebuild = one_build(sources, index_dir, backend, logs, f"build-{backend}-rebuild")
        ratio = round(cold["passages_per_s"] / plain["passages_per_s"], 3) if plain["passages_per_s"] else None
        # the build's time includes its model load; this ratio charges plain its load too (for context only)
        plain_with_load = plain["passages"] / (plain["encode_seconds"] + plain["load_seconds"])
        ratio_with_load = round(cold["passages_per_s"] / plain_with_load, 3)
        fraction = round(rebuild["seconds"] / cold["seconds"], 4) if cold["seconds"] else None
        entry = {"cold": cold, "rebuild": rebuild, "plain": plain, "ratio_to_plain": ratio,
                 "ratio_to_plain_with_model_load": ratio_with_load, "rebuild_fraction": fraction}
        out["backends"][backend] = entry
        out["index_dirs"][backend] = str(index_dir)
        limit = RATIO_TARGETS.get(backend, 0.9)
        say(f"   {backend:9s} cold build / plain ST encode rate = {fmt(ratio, 3)} (plain charged its model load "
            f"too: {fmt(ratio_with_load, 3)}) "
            + targets.check(f"build.{backend}.ratio_to_plain", ratio, ">=", limit, "x"))
        say(f"   {backend:9s} no-change rebuild: {rebuild['seconds']:.2f} s ({rebuild['reused']} reused, "
            f"{rebuild['computed']} computed), {fmt(100 * fraction if fraction is not None else None, 1)}% of the cold "
            f"build, peak RSS {rebuild['peak_rss_mb']:.0f} MiB "
            + targets.check(f"build.{backend}.rebuild_fraction", fraction, "<=", REBUILD_FRACTION))
    return out
