"""Opening quotes: a page's description often opens with a quotation or a bit of dialogue.

Records that keep the quote inline (JSON Lines descriptions) need it split off, so the first
description chunk holds the description itself; the quote becomes the page quote.
"""

from __future__ import annotations

import re

_QUOTED_RE = re.compile(r"^[\"\u201c\u2018'\u00ab]")
_ATTRIBUTION_RE = re.compile(r"^(?:\u2014|\u2015|--|-\s)")
_STAGE_RE = re.compile(r"^\[[^\]]{1,300}\]$")
# "The Wolf: Yeah, big surprise party." -- a short speaker name, a colon, then speech
_DIALOGUE_RE = re.compile(r"^(?:[A-Z][\w.'\u2019-]*)(?:\s+[\w.'\u2019-]+){0,4}:\s+\S")
_MAX_QUOTE_PARAGRAPHS = 24


def _quote_like(paragraph: str) -> bool:
    p = paragraph.strip()
    return bool(_QUOTED_RE.match(p) or _ATTRIBUTION_RE.match(p) or _STAGE_RE.match(p) or _DIALOGUE_RE.match(p))


def split_opening_quote(paragraphs: list[str]) -> tuple[str | None, list[str]]:
    """(quote, remaining description): leading quote-like paragraphs, if prose follows them."""
    n = 0
    while n < len(paragraphs) and n < _MAX_QUOTE_PARAGRAPHS and _quote_like(paragraphs[n]):
        n += 1
    if n == 0 or n == len(paragraphs):
        return None, paragraphs
    return " ".join(p.strip() for p in paragraphs[:n]), paragraphs[n:]
