"""Content-based format detection: which of the `Format`s a text is written in."""

from __future__ import annotations

import json
import re

from .errors import EmptyPageError, UnknownFormatError
from .page import Format

_HTML_RE = re.compile(r"^\s*(?:<!DOCTYPE\s+html|<html\b|<head\b|<body\b|<div\b|<meta\b)", re.IGNORECASE)
# `[^<>]`, not `[^>]`: from every `<a` the scan stops at the next `<`, so a run of unclosed tags
# is linear, not quadratic
_HTML_TAG_RE = re.compile(r"</?(?:p|div|span|ul|li|a|em|strong|h[1-6]|br)\b[^<>]*>", re.IGNORECASE)
_PLAINTEXT_LINK_RE = re.compile(r'\["https?://[^"\]]*"\]')
_MD_BULLET_RE = re.compile(r"^ {0,12}-   \S", re.MULTILINE)
_MD_MARKS_RE = re.compile(r"^## |<sup>note|^___\s*$|open/close all folders|\\\[|^\u00a0{2,}\S", re.MULTILINE)
_PMWIKI_MARKS_RE = re.compile(
    r"\[\[(?:folder|/folder|note|/note|spoiler|quoteblock|AC:)|\{\{[^{}\n]+\}\}|''[^'\n]|^!!|^->|^\*{1,3} \S|\[\[[A-Z][A-Za-z0-9]+[ \]]",
    re.MULTILINE,
)
_WIKIWORD_RE = re.compile(r"(?<![\w/])[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*){1,}(?![\w])")


def _looks_like_jsonl(text: str) -> bool:
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("{"):
            return False
        try:
            obj = json.loads(line)
        except ValueError:
            # a truncated first record is still JSONL if it opens like one of ours
            return '"trope_id"' in line[:200]
        return isinstance(obj, dict) and ("trope_id" in obj or "description" in obj)
    return False


def detect_format(text: str, source: str | None = None) -> Format:
    """Guess the format from the content (the file name is never consulted).

    Raises EmptyPageError for blank text and UnknownFormatError when nothing matches.
    """
    head = text[:200_000]
    if not head.strip():
        raise EmptyPageError("the page is empty", source)
    if _looks_like_jsonl(head):
        return Format.JSONL
    if _HTML_RE.match(head) or len(_HTML_TAG_RE.findall(head)) >= 5:
        return Format.HTML
    scores = {
        Format.PLAINTEXT: 3 * len(_PLAINTEXT_LINK_RE.findall(head)),
        Format.MARKDOWN: 2 * len(_MD_BULLET_RE.findall(head)) + 3 * len(_MD_MARKS_RE.findall(head)),
        Format.PMWIKI: 3 * len(_PMWIKI_MARKS_RE.findall(head)) + len(_WIKIWORD_RE.findall(head)) // 2,
    }
    best = max(scores, key=scores.get)
    if scores[best] == 0:
        if any(c.isalpha() for c in head):
            # prose with no marks at all reads the same in every text format
            return Format.PLAINTEXT
        raise UnknownFormatError("cannot tell the page format from its content; pass --format", source)
    return best
