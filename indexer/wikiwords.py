"""CamelCase WikiWords and trope ids: splitting into words, recognising, deriving titles."""

from __future__ import annotations

import re

# A WikiWord: two or more capitalised parts ("ChekhovsGun", "AChildShallLEadThem"). Each part starts
# with its capital, so the pattern cannot backtrack exponentially.
WIKIWORD_RE = re.compile(r"\b[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)+\b")

_SPLIT_RE = re.compile(
    r"""
    (?<=[a-z])(?=[A-Z])            # aB
    | (?<=[A-Z])(?=[A-Z][a-z])     # ABc -> A Bc
    | (?<=[A-Za-z])(?=[0-9])       # a1
    | (?<=[0-9])(?=[A-Za-z])       # 1a
    """,
    re.VERBOSE,
)

_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to", "with"}


def split_camel_case(word: str) -> str:
    """'ChekhovsGun' -> 'Chekhovs Gun'; 'AChildShallLEadThem' -> 'A Child Shall L Ead Them'."""
    word = word.strip()
    if not word or " " in word:
        return word
    return _SPLIT_RE.sub(" ", word)


def title_from_id(trope_id: str) -> str:
    """Derive a readable title from a CamelCase trope id (used when a record has no title)."""
    words = split_camel_case(trope_id).split()
    out = []
    for i, w in enumerate(words):
        lower = w.lower()
        out.append(lower if 0 < i and lower in _SMALL_WORDS else w)
    return " ".join(out)


def is_wikiword(token: str) -> bool:
    return bool(WIKIWORD_RE.fullmatch(token))


def trope_id_from_url(url: str | None) -> str | None:
    """'https://tvtropes.org/pmwiki/pmwiki.php/Main/BoldlyComing' -> 'BoldlyComing'."""
    if not url:
        return None
    m = re.search(r"/pmwiki\.php/([A-Za-z0-9]+)/([A-Za-z0-9_]+)", url)
    if m and m.group(1) == "Main":
        return m.group(2)
    return None


def trope_url(trope_id: str) -> str:
    return f"https://tvtropes.org/pmwiki/pmwiki.php/Main/{trope_id}"
