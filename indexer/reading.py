"""Reading page files: bounded size, binary detection, UTF-8 with a per-byte cp1252 fallback."""

from __future__ import annotations

import codecs
from pathlib import Path

from .errors import BinaryInputError, EmptyPageError, PageTooLargeError

DEFAULT_MAX_PAGE_BYTES = 16 * 1024 * 1024

# Share of undecodable bytes above which a file is treated as "not UTF-8 text" rather than
# UTF-8 with a few stray legacy bytes (real pages mix in the odd cp1252 character).
_MAX_BAD_BYTE_SHARE = 0.02


def _cp1252_fallback(err: UnicodeDecodeError):
    bad = err.object[err.start:err.end]
    return bad.decode("cp1252", errors="replace"), err.end


codecs.register_error("tropesearch-cp1252", _cp1252_fallback)


def decode_bytes(data: bytes, source: str | None = None) -> str:
    """Decode page bytes: UTF-8 (BOM tolerated), stray invalid bytes read as cp1252.

    Raises BinaryInputError for NUL bytes or when too much of the file is not UTF-8, EmptyPageError
    for an empty file.
    """
    if not data.strip():
        raise EmptyPageError("the file is empty", source)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BinaryInputError("the file is UTF-16; convert it to UTF-8", source)
    nul = data.find(b"\x00")
    if nul != -1:
        line = data.count(b"\n", 0, nul) + 1
        raise BinaryInputError("the file contains NUL bytes: it is binary, not a text page", source, line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    if bad > max(8, _MAX_BAD_BYTE_SHARE * len(data)):
        line = data.count(b"\n", 0, first_bad) + 1
        raise BinaryInputError(
            f"the file is not UTF-8 text ({bad} undecodable bytes); convert it to UTF-8", source, line
        )
    return data.decode("utf-8-sig", errors="tropesearch-cp1252")


def read_page_bytes(path: Path, max_bytes: int = DEFAULT_MAX_PAGE_BYTES) -> bytes:
    """Read at most max_bytes (+1 to detect overflow) of a file; PageTooLargeError beyond."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PageTooLargeError(
            f"the page is larger than {max_bytes // (1024 * 1024)} MiB; split it or raise --max-page-mb",
            str(path),
        )
    return data


def read_page_text(path: Path, max_bytes: int = DEFAULT_MAX_PAGE_BYTES) -> str:
    return decode_bytes(read_page_bytes(path, max_bytes), str(path))
