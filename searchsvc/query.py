"""Search requests and their validation: what a query may ask for, with clear errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexer.mojibake import repair_c1

from .errors import InvalidQueryError

MODES = ("hybrid", "dense", "lexical")
GROUPS = ("passage", "trope")
KINDS = ("description", "quote", "example")
SCOPES = ("any", "same-trope", "other-tropes")
MAX_QUERY_CHARS = 1000
MAX_K = 100
MAX_DEPTH = 1000   # results reachable by paging: offset + k <= MAX_DEPTH


# C0 control characters other than tab, newline and carriage return; DEL; noncharacters.
# (C1 characters are cp1252 mojibake, "won\x92t": repaired as the pages are, not refused.)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _clean_text(text: str | None, what: str = "q") -> str:
    if text is None:
        raise InvalidQueryError(f"missing query: pass ?{what}=... (1 to {MAX_QUERY_CHARS} characters)")
    if not isinstance(text, str):
        raise InvalidQueryError(f"{what} must be a string")
    text = repair_c1(text)
    if _CONTROL_RE.search(text):
        raise InvalidQueryError(f"{what} contains control characters; send plain text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQueryError(f"{what} is not valid Unicode text (lone surrogate)") from None
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidQueryError(f"empty query: {what} must contain some text")
    if len(cleaned) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"query too long: {len(cleaned)} characters, the limit is {MAX_QUERY_CHARS}")
    return cleaned


def check_k(k: int, offset: int = 0) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidQueryError(f"k must be an integer from 1 to {MAX_K}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidQueryError("offset must be an integer >= 0")
    if offset + k > MAX_DEPTH:
        raise InvalidQueryError(f"offset + k must be at most {MAX_DEPTH} (results beyond are not ranked)")


@dataclass(frozen=True)
class Query:
    """One search request. `validated()` returns a cleaned copy or raises InvalidQueryError."""

    text: str
    k: int = 10
    offset: int = 0
    mode: str = "hybrid"
    media: tuple[str, ...] = field(default_factory=tuple)
    trope: str | None = None
    kind: str | None = None
    group: str = "passage"

    def validated(self) -> "Query":
        text = _clean_text(self.text)
        check_k(self.k, self.offset)
        if self.mode not in MODES:
            raise InvalidQueryError(f"unknown mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if self.group not in GROUPS:
            raise InvalidQueryError(f"unknown group {self.group!r}; choose one of: {', '.join(GROUPS)}")
        if self.kind is not None and self.kind not in KINDS:
            raise InvalidQueryError(f"unknown kind {self.kind!r}; choose one of: {', '.join(KINDS)}")
        media = tuple(m.strip() for m in self.media if m and m.strip())
        if any(len(m) > 100 for m in media) or (self.trope and len(self.trope) > 200):
            raise InvalidQueryError("filter value too long")
        return Query(text, self.k, self.offset, self.mode, media, self.trope or None, self.kind, self.group)

    def filters(self) -> tuple:
        return (self.media, self.trope, self.kind)
