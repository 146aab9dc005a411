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


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class Highlighter:
    """Snippets for one query: its terms' patterns compiled once, then applied to each result."""

    def __init__(self, terms: list[str], max_chars: int = 320):
        self.max_chars = max_chars
        stems = sorted({_stem(t) for t in terms if len(t) >= 2}, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, stems))
        self._first = re.compile(r"\b(?:" + alternatives + r")", re.IGNORECASE) if stems else None
        # entities (&amp; &#39;) are matched first and kept whole, so a term never splits one
        self._marks = re.compile(r"(&#?\w+;)|\b(?:" + alternatives + r")\w*", re.IGNORECASE) if stems else None

    def __call__(self, text: str) -> str:
        """HTML-escaped `text` with the terms in <mark>, cut to a window around the first match."""
        max_chars = self.max_chars
        window = text
        if len(text) > max_chars:
            start = 0
            m = self._first.search(text) if self._first else None
            if m and m.start() > max_chars // 3:
                start = text.rfind(" ", 0, m.start() - max_chars // 4) + 1
            end = start + max_chars
            end = text.rfind(" ", start, end) if text.rfind(" ", start, end) > start else end
            window = ("\u2026" if start else "") + text[start:end] + ("\u2026" if end < len(text) else "")
        escaped = str(escape(window))
        if self._marks is None:
            return escaped
        return self._marks.sub(lambda m: m.group(1) or f"<mark>{m.group(0)}</mark>", escaped)

