"""Helpers shared by the text-format parsers (pmwiki, plaintext, markdown).

Everything here works in linear time on its input (no unbounded lazy or nested regex
quantifiers), so a parser built from these helpers stays fast on multi-megabyte pages.

- `split_lines` validates raw input and splits it into lines (EmptyPageError, BinaryInputError).
- `clean` turns a rendered fragment into display prose: debris scrubbed, whitespace collapsed.
- `NOTE_END` / `close_notes` let a parser place a footnote as a parenthetical right after the
  text it annotates and fix the spacing around it afterwards.
- `ExampleTree` builds the nested examples tree from (indent or depth, example) pairs and
  enforces `MAX_DEPTH`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import BinaryInputError, EmptyPageError, MalformedPageError
from ..media import MEDIA_LABELS, normalize_media
from ..mojibake import C1_AS_CP1252
from ..page import Example, Link
from ..wikiwords import trope_id_from_url

NBSP = "\u00a0"

# Strings that must never survive into parsed text (markup, link marks, footnote debris).
FORBIDDEN: tuple[str, ...] = ("[[", "]]", "{{", "}}", "''", '["http', "<sup>", "</sup>", "&nbsp;")

# Bullets may nest this deep; deeper is a broken page.
MAX_DEPTH = 10

# Private-use characters the parsers use as in-band markers; stripped from every input first.
PRIVATE_RE = re.compile("[\ue000-\ue0ff]")
NOTE_END = "\ue0f0"  # placed right after a "(note)" parenthetical; resolved by `close_notes`

# One pass, left to right; each hit becomes a space, so no new forbidden string can form.
_DEBRIS_RE = re.compile(r"\[\[|\]\]|\{\{|\}\}|''|\[\"http|</?sup>|&nbsp;", re.IGNORECASE)
_WS_RE = re.compile(r"\s+")
# control characters that are not whitespace (C0, DEL, C1 left after the cp1252 repair): debris, dropped
CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_NOTE_END_RE = re.compile(NOTE_END + r"(?:(\s*(?=[,.;:!?)\]]|$))|\s*)")
_URL_FIX_RE = re.compile(r"https?://")
_ID_WORD_RE = re.compile(r"[A-Za-z0-9]+")


def split_lines(text: str, source: str) -> list[str]:
    """Validate raw page text and return its lines (1-based line n is `lines[n - 1]`).

    Raises EmptyPageError for blank text and BinaryInputError for text holding NUL bytes.
    """
    if not isinstance(text, str):
        raise BinaryInputError("the page is not text", source)
    if "\x00" in text:
        raise BinaryInputError("the page holds NUL bytes: not a text page", source)
    if not text.strip():
        raise EmptyPageError("the page is empty", source)
    text = PRIVATE_RE.sub("", text.lstrip("\ufeff"))
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# PmWiki markup that leaked into rendered text (HTML pages, JSON records): "[[spoiler:", "[[note]]", "{{", "''"
_WIKI_DEBRIS_RE = re.compile(
    r"\[\[(?:spoiler|note|labelnote|folder|quoteblock|AC|index|/[A-Za-z]+)\b[^\]\[]{0,80}?(?::|\]\])"
    r"|\[\[|\]\]|\{\{|\}\}|'{2,}",
    re.IGNORECASE,
)


def scrub_leaked_wiki_markup(s: str) -> str:
    """Wiki markup that leaked into rendered text removed. What a removal joins into new markup
    ("{[[{" -> "{{") is then replaced by a space, which joins nothing."""
    return _DEBRIS_RE.sub(" ", _WIKI_DEBRIS_RE.sub("", s))


def scrub(s: str) -> str:
    """Replace any leftover markup debris (see FORBIDDEN) with a space."""
    return _DEBRIS_RE.sub(" ", s)


def collapse_ws(s: str) -> str:
    """Collapse all whitespace (non-breaking spaces included) into single spaces; C1 mojibake
    becomes the cp1252 characters it stands for, other control characters spaces."""
    return _WS_RE.sub(" ", CONTROL_RE.sub(" ", s.replace(NBSP, " ").translate(C1_AS_CP1252))).strip()


def clean(s: str) -> str:
    """Final pass on a rendered fragment: footnote spacing fixed, debris scrubbed, whitespace collapsed."""
    s = PRIVATE_RE.sub("", close_notes(s))
    return collapse_ws(scrub(s))


def parenthetical(content: str) -> str:
    """' (content)' followed by NOTE_END, or '' for an empty note."""
    content = collapse_ws(content)
    if not content:
        return ""
    return f" ({content}){NOTE_END}"


def close_notes(s: str) -> str:
    """Resolve NOTE_END markers: nothing before punctuation or the end, else one space."""
    if NOTE_END not in s:
        return s
    return _NOTE_END_RE.sub(lambda m: "" if m.group(1) is not None else " ", s)


def fix_url(url: str) -> str:
    """'https://tvtropes.orghttps://en.wikipedia.org/x' -> 'https://en.wikipedia.org/x'."""
    url = url.strip()
    starts = [m.start() for m in _URL_FIX_RE.finditer(url)]
    if len(starts) > 1:
        url = url[starts[-1]:]
    return url


def link_target(url: str) -> str:
    """The trope id for a Main/ url, else the (fixed) url itself."""
    url = fix_url(url)
    return trope_id_from_url(url) or url


def id_from_title(title: str) -> str | None:
    """'Did You Just Romance Cthulhu?' -> 'DidYouJustRomanceCthulhu'."""
    words = _ID_WORD_RE.findall(title)
    if not words:
        return None
    return "".join(w[:1].upper() + w[1:] for w in words)


def dedupe_links(links: list[Link]) -> list[Link]:
    """Keep the first link for each target, dropping links with empty text or target."""
    seen: set[str] = set()
    out = []
    for link in links:
        text = clean(link.text)
        target = link.target.strip()
        if not text or not target or target in seen:
            continue
        seen.add(target)
        out.append(Link(text, target))
    return out


class ExampleTree:
    """Builds one media section's example tree from bullets in document order.

    `add(example, level)` nests `example` under the closest preceding bullet with a smaller
    `level` (a depth for star bullets, an indentation width for indented ones) and returns its
    depth (1 = top level). Depth over MAX_DEPTH raises MalformedPageError naming the line.
    """

    def __init__(self, roots: list[Example], source: str):
        self.roots = roots
        self.source = source
        self.stack: list[tuple[int, Example]] = []

    def add(self, example: Example, level: int) -> int:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        depth = len(self.stack) + 1
        if depth > MAX_DEPTH:
            raise MalformedPageError(
                f"bullets nested {depth} deep (at most {MAX_DEPTH} allowed)", self.source, example.line
            )
        if self.stack:
            self.stack[-1][1].children.append(example)
        else:
            self.roots.append(example)
        self.stack.append((level, example))
        return depth


def check_depth(depth: int, source: str, line: int) -> None:
    """Raise MalformedPageError when a bullet's own marker says it is nested too deep."""
    if depth > MAX_DEPTH:
        raise MalformedPageError(f"bullets nested {depth} deep (at most {MAX_DEPTH} allowed)", source, line)


# A WikiWord token: capitalised, at least two capitalised parts ("ChekhovsGun", "ATeam").
# Unlike a free `re.search` with nested quantifiers, `fullmatch` on one token stays linear.
_WIKIWORD_TOKEN_RE = re.compile(r"(?:[A-Z][a-z0-9]+|[A-Z](?=[A-Z][a-z]))(?:[A-Z][a-z0-9]*)+")


def is_wikiword(token: str) -> bool:
    """True for a CamelCase WikiWord token ("GreenSkinnedSpaceBabe"), False for "NASA", "Foo", "B12"."""
    return len(token) <= 120 and bool(_WIKIWORD_TOKEN_RE.fullmatch(token))


_MEDIA_SET = frozenset(MEDIA_LABELS)
_LABEL_RE = re.compile("[A-Za-z][A-Za-z &/'\\-\u2013\u2014]{0,59}")


@lru_cache(maxsize=1024)
def _known_media(label: str) -> str | None:
    media = normalize_media(label)
    return media if media in _MEDIA_SET else None


def known_media(label: str) -> str | None:
    """The display label when `label` names a known media category ("Film", "Anime and Manga:"), else None."""
    label = label.strip().rstrip(":").strip()
    if len(label) > 60 or not _LABEL_RE.fullmatch(label):
        return None
    return _known_media(label)
