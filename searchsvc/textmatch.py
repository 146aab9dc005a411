"""Query terms for the lexical leg and highlighted, HTML-escaped snippets."""

from __future__ import annotations

import re

from markupsafe import escape

from indexer.wikiwords import split_camel_case

STOPWORDS = frozenset(
    "a an and are as at be been but by do does for from had has have he her his how i if in into is it its "
    "me my no not of on or our she so such than that the their them then there these they this those to "
    "too was we were what when where which while who whom why will with would you your".split()
)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def name_key(name: str) -> str:
    """A title or work name as one lower-case run of letters and digits ("Chekhov's Gun" -> "chekhovsgun")."""
    return "".join(re.findall(r"[^\W_]+", name.lower()))


def query_terms(text: str, limit: int = 32) -> list[str]:
    """Words of a query for BM25: lower-case, stopwords dropped, CamelCase ids also split."""
    terms: list[str] = []
    for raw in _WORD_RE.findall(text):
        pieces = [raw]
        split = split_camel_case(raw)
        if split != raw:
            pieces += split.split()
        for piece in pieces:
            word = piece.lower().replace("'", "")
            if word and word not in STOPWORDS and word not in terms:
                terms.append(word)
    if not terms:  # a query made only of stopwords still deserves a lexical try
        terms = [w.lower().replace("'", "") for w in _WORD_RE.findall(text)][:limit]
    return terms[:limit]


def fts_match_expression(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression: any of the terms (quoted, so no query syntax leaks through)."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms if t]
    return " OR ".join(quoted) or None


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def highlight(text: str, terms: list[str], max_chars: int = 320) -> str:
    """HTML-escaped `text` with query terms in <mark>, cut to a window around the first match."""
    stems = sorted({_stem(t) for t in terms if len(t) >= 2}, key=len, reverse=True)
    window = text
    if len(text) > max_chars:
        start = 0
        if stems:
            m = re.search(r"\b(?:" + "|".join(map(re.escape, stems)) + r")", text, re.IGNORECASE)
            if m and m.start() > max_chars // 3:
                start = text.rfind(" ", 0, m.start() - max_chars // 4) + 1
        end = start + max_chars
        end = text.rfind(" ", start, end) if text.rfind(" ", start, end) > start else end
        window = ("\u2026" if start else "") + text[start:end] + ("\u2026" if end < len(text) else "")
    escaped = str(escape(window))
    if not stems:
        return escaped
    # entities (&amp; &#39;) are matched first and kept whole, so a term never splits one
    pattern = re.compile(r"(&#?\w+;)|\b(?:" + "|".join(re.escape(s) for s in stems) + r")\w*", re.IGNORECASE)
    return pattern.sub(lambda m: m.group(1) or f"<mark>{m.group(0)}</mark>", escaped)
