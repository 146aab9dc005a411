"""The corpus to benchmark: the given folder, or a subset of it copied under the work dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MANIFEST = "manifest.json"


def page_files(root: Path) -> list[Path]:
    """Files under root in the order the indexer walks them (sorted, hidden entries skipped)."""
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".") and f != MANIFEST]
    return out


def make_subset(corpus: Path, dest: Path, limit_files: int | None, sample: int | None) -> Path:
    """Copy at most `limit_files` non-JSONL files and the first `sample` records of each JSONL file.

    Folder manifests are copied beside the files they describe. Returns `dest` (or `corpus` itself
    when neither limit is set).
    """
    if limit_files is None and sample is None:
        return corpus
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    root = corpus if corpus.is_dir() else corpus.parent
    kept_other = 0
    for path in page_files(corpus):
        rel = path.relative_to(root)
        target = dest / rel
        if path.suffix.lower() == ".jsonl":
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(path, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as out:
                for i, line in enumerate(src):
                    if sample is not None and i >= sample:
                        break
                    out.write(line)
            continue
        if limit_files is not None and kept_other >= limit_files:
            continue
        kept_other += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        manifest = path.parent / MANIFEST
        if manifest.is_file() and not (target.parent / MANIFEST).exists():
            shutil.copy2(manifest, target.parent / MANIFEST)
    return dest
