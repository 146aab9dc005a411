"""Benchmark queries: the dev queries, made distinct when more are asked for than the file holds."""

from __future__ import annotations

import json
from pathlib import Path

FALLBACK = ["aliens seduce humans", "a child rules the kingdom", "the villain is the hero's uncle",
            "robot arm replaces a lost limb", "the hero's mentor dies"]


def load_queries(path: Path | None) -> list[str]:
    """The `query` field of each JSONL line (a plain-text line is a query too); a few built-ins if no file."""
    if path is None or not Path(path).is_file():
        return list(FALLBACK)
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            text = json.loads(line).get("query")
            if text:
                out.append(text)
        else:
            out.append(line)
    return out or list(FALLBACK)


def unique_stream(pool: list[str], n: int) -> list[str]:
    """n queries, all distinct (so no query-embedding cache can answer one): the pool as is, then
    the pool again with a cycle number appended ("... 2"), and so on."""
    out = []
    for i in range(n):
        cycle, j = divmod(i, len(pool))
        out.append(pool[j] if cycle == 0 else f"{pool[j]} {cycle + 1}")
    return out
