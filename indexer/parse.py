"""Parsing pages: `parse()` for one page, `parse_sources()` for files and folders in bulk.

Every failure is a `ParseError` that names the file (and line where it helps); in bulk, a broken
page is reported and skipped and the rest goes on.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .detect import detect_format
from .errors import MissingTitleError, PageTooLargeError, ParseError
from .formats import parser_for
from .manifest_files import MANIFEST_NAME, ManifestEntry, load_manifest
from .page import Format, Page
from .reading import DEFAULT_MAX_PAGE_BYTES, decode_bytes, read_page_bytes
from .wikiwords import title_from_id, trope_id_from_url

logger = logging.getLogger(__name__)

PAGE_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".ndjson", ".wiki", ".pmwiki", ""}
# documentation that sits beside pages; not reported as a broken page
_DOC_NAME_RE = re.compile(r"^(readme|license|licence|attribution|notice|changelog)(\.|$)", re.IGNORECASE)
_DETECT_HEAD_BYTES = 256 * 1024


def _as_format(fmt: Format | str | None) -> Format | None:
    if fmt is None or isinstance(fmt, Format):
        return fmt
    try:
        return Format(str(fmt).lower())
    except ValueError:
        choices = ", ".join(f.value for f in Format)
        raise ParseError(f"unknown format {fmt!r}; choose one of: {choices}") from None


def _is_file(text: str) -> bool:
    """True when `text` names an existing file; a text no file system accepts as a name is not one."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):   # ENAMETOOLONG, EACCES, ...
        return False


def parse_all(
    path_or_text: str | os.PathLike,
    format: Format | str | None = None,
    *,
    source: str | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> list[Page]:
    """Parse a file path or a text into pages (JSONL gives one page per record).

    A `Path` (or an existing file path string) is read from disk; any other string is page text.
    """
    fmt = _as_format(format)
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text and len(path_or_text) < 4096
        and _is_file(path_or_text)
    ):
        path = Path(path_or_text)
        source = source or str(path)
        text = decode_bytes(read_page_bytes(path, max_bytes), source)
    else:
        text = str(path_or_text)
        source = source or "<text>"
        if len(text.encode("utf-8", "surrogatepass")) > max_bytes and fmt is not Format.JSONL:
            from .errors import PageTooLargeError

            raise PageTooLargeError(f"the page is larger than {max_bytes} bytes", source)
    if "\x00" in text:
        from .errors import BinaryInputError

        raise BinaryInputError("the text contains NUL bytes: it is binary, not a text page", source)
    fmt = fmt or detect_format(text, source)
    return parser_for(fmt)(text, source)


def parse(path_or_text: str | os.PathLike, format: Format | str | None = None, **kwargs) -> Page:
    """Parse one page (a file path or page text). For JSONL, the first record."""
    return parse_all(path_or_text, format, **kwargs)[0]


def apply_manifest(page: Page, entry: ManifestEntry | None) -> Page:
    """Fill what the page does not say about itself from its manifest entry."""
    if entry is not None:
        page.trope_id = page.trope_id or entry.trope_id
        page.title = page.title or entry.title
        page.url = page.url or entry.url
    return page


def require_identity(page: Page) -> Page:
    """Every indexed page must name its trope; never guess one from a file name or hash."""
    if not page.trope_id and page.url:
        page.trope_id = trope_id_from_url(page.url)
    if not page.trope_id and page.title:
        page.trope_id = re.sub(r"[^A-Za-z0-9]", "", page.title.title()) or None
    if not page.trope_id:
        raise MissingTitleError(
            f"the page does not name its trope; add an entry for {Path(page.source.split(':')[0]).name!r} "
            f"to a {MANIFEST_NAME} beside it (or pass --manifest FILE)",
            page.source,
        )
    page.title = page.title or title_from_id(page.trope_id)
    return page


@dataclass
class ParseReport:
    """What a bulk parse found: pages, and files skipped with the reason."""

    pages: list[Page] = field(default_factory=list)
    skipped: list[ParseError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # files that are documentation, not pages
    files: list[Path] = field(default_factory=list)    # page files read (for checksums)


def discover_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """Walk files and folders (sorted, hidden entries skipped). Returns (candidate files, ignored)."""
    files: list[Path] = []
    ignored: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ParseError("no such file or folder", str(path))
        if path.is_file():
            files.append(path)
            continue
        for root, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                candidate = Path(root) / name
                if name.startswith(".") or name == MANIFEST_NAME:
                    continue
                if _DOC_NAME_RE.match(name) or candidate.suffix.lower() not in PAGE_SUFFIXES:
                    ignored.append(str(candidate))
                    continue
                files.append(candidate)
    return files, ignored


def _iter_jsonl_pages(path: Path, max_bytes: int) -> Iterator[Page | ParseError]:
    from .formats.jsonl import iter_pages

    def lines():
        with open(path, "rb") as fh:
            lineno = 0
            while raw := fh.readline(max_bytes + 1):   # never more than the limit in memory
                lineno += 1
                if len(raw) > max_bytes:
                    while raw and not raw.endswith(b"\n"):   # the rest of the line, in bounded pieces
                        raw = fh.readline(1 << 20)
                    yield PageTooLargeError(f"the record is larger than {max_bytes} bytes", str(path), lineno)
                    continue
                try:
                    yield decode_bytes(raw, f"{path}:{lineno}") if raw.strip() else ""
                except ParseError:
                    yield raw.decode("utf-8", "replace").replace("\x00", "")

    yield from iter_pages(lines(), str(path))


def parse_sources(
    paths: Iterable[str | os.PathLike],
    format: Format | str | None = None,
    *,
    manifest: str | os.PathLike | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    progress: Callable[[Path], None] | None = None,
    on_files: Callable[[int], None] | None = None,
) -> ParseReport:
    """Parse every page under `paths`; broken pages are reported in `skipped`, never raised."""
    fmt = _as_format(format)
    report = ParseReport()
    files, report.ignored = discover_files(paths)
    if on_files is not None:
        on_files(len(files))
    explicit = load_manifest(Path(manifest)) if manifest else {}
    folder_manifests: dict[Path, dict[str, ManifestEntry]] = {}

    for path in files:
        folder = path.parent
        if folder not in folder_manifests:
            local = folder / MANIFEST_NAME
            try:
                folder_manifests[folder] = load_manifest(local) if local.is_file() else {}
            except ParseError as exc:
                report.skipped.append(exc)
                folder_manifests[folder] = {}
        entry = explicit.get(path.name) or folder_manifests[folder].get(path.name)
        try:
            for item in _parse_file(path, fmt, max_bytes):
                if isinstance(item, ParseError):
                    report.skipped.append(item)
                    continue
                try:
                    report.pages.append(require_identity(apply_manifest(item, entry)))
                except ParseError as exc:
                    report.skipped.append(exc)
            report.files.append(path)
        except ParseError as exc:
            report.skipped.append(exc)
        except Exception as exc:  # a parser bug must not stop the batch; report it like bad input
            logger.debug("unexpected error parsing %s", path, exc_info=True)
            report.skipped.append(ParseError(f"internal error while parsing ({type(exc).__name__}: {exc})", str(path)))
        if progress is not None:
            progress(path)
    return report


def _parse_file(path: Path, fmt: Format | None, max_bytes: int) -> Iterator[Page | ParseError]:
    if fmt is None:
        with open(path, "rb") as fh:
            head = fh.read(_DETECT_HEAD_BYTES)
        if len(head) == _DETECT_HEAD_BYTES:
            # cut at the last newline so a multi-byte character or record is not split
            head = head[: head.rfind(b"\n") + 1] or head
        fmt = detect_format(decode_bytes(head, str(path)), str(path))
    if fmt is Format.JSONL:
        yield from _iter_jsonl_pages(path, max_bytes)
        return
    text = decode_bytes(read_page_bytes(path, max_bytes), str(path))
    yield from parser_for(fmt)(text, str(path))
