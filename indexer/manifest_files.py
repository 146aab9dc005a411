"""Page manifests: `manifest.json` files that name the trope of pages whose text does not.

Format: {"file name": {"trope_id": "InterspeciesRomance", "title": "Interspecies Romance"}, ...}.
A manifest found in a folder applies to the files of that folder; one passed with --manifest
applies to files of that name anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ParseError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ManifestEntry:
    trope_id: str | None
    title: str | None
    url: str | None = None


def load_manifest(path: Path) -> dict[str, ManifestEntry]:
    """Read a manifest file; ParseError (naming the file) when it is not valid."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read manifest: {exc}", str(path)) from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"manifest is not valid JSON: {exc.msg}", str(path), exc.lineno) from exc
    if not isinstance(raw, dict):
        raise ParseError("manifest must be a JSON object mapping file names to {trope_id, title}", str(path))
    entries: dict[str, ManifestEntry] = {}
    for name, value in raw.items():
        if not isinstance(value, dict) or not (value.get("trope_id") or value.get("title")):
            raise ParseError(f"manifest entry {name!r} needs a trope_id or title", str(path))
        entries[name] = ManifestEntry(
            trope_id=_str_or_none(value.get("trope_id")),
            title=_str_or_none(value.get("title")),
            url=_str_or_none(value.get("url")),
        )
    return entries


def _str_or_none(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
