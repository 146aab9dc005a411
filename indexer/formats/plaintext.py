"""Parser for rendered plain-text trope pages.

The text is what a browser shows, with two traces of the markup left in it:

- link marks: the link text is followed by its target, `Humanoid Aliens ["https://tvtropes.org/
  pmwiki/pmwiki.php/Main/HumanoidAliens"]`. The mark is removed and recorded as a `Link` (target:
  the trope id for a Main/ url, else the url, repaired when it is glued to a site prefix as in
  `["https://tvtropes.orghttps://en.wikipedia.org/..."]`). Where the link text starts is not
  marked; `_link_text` takes the trailing words that spell the trope id, else the trailing
  run of capitalised words.
- footnotes, inlined after the word `note` and a non-breaking space: `...same species.note\u00a0There
  are ... one.` The note runs to the next note mark or the end of the line and becomes a
  parenthetical: `...same species. (There are ... one.)`

One line is one paragraph. The text never names its trope, so `trope_id`/`title` are None (a
manifest fills them). An opening line wholly in quotes (with dash-led attribution lines) is the
page quote. A line `Examples:` (or a media label line such as `Film`) starts the examples:
media labels open sections, bullet lines (`-`, `*`, `•`, `1.`) nested by indentation are examples
and non-bullet lines continue the example above; without any bullet marks, each line is one
example, nested by its indentation.
"""

from __future__ import annotations

import re

from ..errors import EmptyPageError
from ..page import Example, Format, Link, MediaSection, Page
from .inline import (
    NBSP, ExampleTree, check_depth, clean, dedupe_links, known_media, link_target, parenthetical, split_lines,
)

_DEFAULT_MEDIA = "Other"
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to", "with", "vs"}
)

# `note` + nbsp anywhere (the renderer glues it to the annotated word); with a plain space only
# right after punctuation and before a capital, where it cannot be the ordinary word "note".
_NOTE_RE = re.compile("note\u00a0+|(?<=[.!?,;:)\\]\"'\u201d\u2019])note (?=[A-Z\"\u201c(])")
_MARK_RE = re.compile(r"\[\"((?:https?://|/)[^\"\]\n]{0,2000})\"\]")
_BROKEN_MARK_RE = re.compile(r"\[\"https?:[^\s\"\]]*\"?\]?")
_PAGE_RE = re.compile(r"/pmwiki\.php/[A-Za-z0-9]+/([A-Za-z0-9_]+)")
_TOKEN_STRIP = "\"'\u201c\u201d\u2018\u2019()[]{}.,;:!?"
_EXAMPLES_RE = re.compile(r"^(?:#+\s*)?examples?(?:\s+[\w ]{0,40})?\s*:?$", re.IGNORECASE)
_FOLDERS_RE = re.compile(r"open/close all folders", re.IGNORECASE)
_BULLET_RE = re.compile(
    "^(?P<ind>[ \t\u00a0]*)(?P<mark>\\*{1,30}|[-+\u2022\u2023\u25e6\u25aa]|\\d{1,3}[.)])\\s+(?P<body>\\S.*)$"
)
_INDENT_RE = re.compile("^[ \t\u00a0]*")
_QUOTE_OPEN = "\"\u201c"
_QUOTE_CLOSE = "\"\u201d"
_ATTRIBUTION_RE = re.compile("^(?:--|[\u2014\u2015\u2013])")
_BULLET_FIRST = frozenset("*-+\u2022\u2023\u25e6\u25aa")


def _indent(line: str) -> int:
    ws = _INDENT_RE.match(line).group(0)
    return len(ws) + 3 * ws.count("\t")


def _link_text(before: str, target: str) -> str:
    """The words just before a link mark that make up the link text."""
    words = before[-400:].split()[-12:]
    if not words:
        return ""
    page = _PAGE_RE.search(target)
    key = (page.group(1) if page else target if "/" not in target and ":" not in target else "").lower()
    if key:  # a trope id or wiki page name: find the words that spell it
        for k in range(1, len(words) + 1):
            joined = re.sub(r"[^a-z0-9]", "", "".join(words[-k:]).lower())
            if joined == key:
                return " ".join(words[-k:]).strip(_TOKEN_STRIP)
            if len(joined) > len(key):
                break
    run: list[str] = []
    for i, w in enumerate(reversed(words)):
        bare = w.strip(_TOKEN_STRIP)
        if i and w[-1:] in ".,;:!?)":  # a sentence or clause boundary before the link
            break
        if bare[:1].isupper() or (run and bare.lower() in _SMALL_WORDS):
            run.append(w)
        else:
            break
    while run and run[-1].strip(_TOKEN_STRIP).lower() in _SMALL_WORDS:
        run.pop()
    if not run:  # no capitalised name: the last few words of the clause
        for w in reversed(words[-4:]):
            if run and w[-1:] in ".,;:!?)":
                break
            run.append(w)
    return " ".join(reversed(run)).strip(_TOKEN_STRIP)


def _render(segment: str, links: list[Link]) -> str:
    """Remove link marks from one stretch of text, recording their links."""
    if '["' not in segment:
        return segment
    out: list[str] = []
    pos = 0
    for m in _MARK_RE.finditer(segment):
        out.append(segment[pos:m.start()].rstrip())
        target = link_target(m.group(1))
        text = _link_text("".join(out[-3:]), target)
        if text:
            links.append(Link(text, target))
        pos = m.end()
    out.append(segment[pos:])
    return _BROKEN_MARK_RE.sub("", "".join(out))


def render_line(line: str, links: list[Link]) -> str:
    """Clean prose for one line: link marks removed, inlined notes turned into parentheticals."""
    parts = _NOTE_RE.split(line) if "note" in line else [line]
    text = _render(parts[0], links)
    for note in parts[1:]:
        text += parenthetical(_render(note, links))
    return clean(text)


def _is_label(stripped: str) -> str | None:
    """The media label a short line names ("Film", "Anime and Manga"), else None."""
    return known_media(stripped) if len(stripped) <= 60 else None


def _bullet(line: str) -> re.Match | None:
    first = line.lstrip(" \t\u00a0")[:1]
    return _BULLET_RE.match(line) if first and (first in _BULLET_FIRST or first.isdigit()) else None


def _is_quote(text: str) -> bool:
    return len(text) > 2 and text[0] in _QUOTE_OPEN and text[-1] in _QUOTE_CLOSE


class _Examples:
    """The examples part of a plain-text page."""

    def __init__(self, source: str, has_bullets: bool):
        self.source = source
        self.has_bullets = has_bullets
        self.sections: list[MediaSection] = []
        self.tree: ExampleTree | None = None
        self.last: Example | None = None

    def open(self, media: str) -> None:
        section = next((s for s in self.sections if s.media == media), None)
        if section is None:
            section = MediaSection(media)
            self.sections.append(section)
        self.tree = ExampleTree(section.examples, self.source)
        self.last = None

    def add(self, text: str, level: int, lineno: int) -> None:
        if self.tree is None:
            self.open(_DEFAULT_MEDIA)
        example = Example(text, line=lineno)
        self.tree.add(example, level)
        self.last = example

    def line(self, line: str, lineno: int) -> None:
        stripped = line.strip().replace(NBSP, " ").strip()
        if not stripped or _FOLDERS_RE.search(stripped):
            return
        media = _is_label(stripped)
        if media:
            self.open(media)
            return
        bullet = _bullet(line)
        if bullet:
            mark = bullet.group("mark")
            stars = len(mark) if mark.startswith("*") else 1
            check_depth(stars, self.source, lineno)
            text = render_line(bullet.group("body"), [])
            if text:
                self.add(text, _indent(line) + 4 * (stars - 1), lineno)
            return
        text = render_line(line.strip(), [])
        if not text:
            return
        if self.has_bullets:
            if self.last is not None:
                self.last.text = f"{self.last.text} {text}"
        else:
            self.add(text, _indent(line), lineno)


def parse_text(text: str, source: str) -> list[Page]:
    """Parse rendered plain text (read from `source`) into one Page."""
    lines = split_lines(text, source)
    description: list[str] = []
    quote: list[str] = []
    links: list[Link] = []
    examples: _Examples | None = None
    depth_tree = ExampleTree([], source)  # only checks nesting of bullet lines in the description
    for lineno, line in enumerate(lines, 1):
        if examples is not None:
            examples.line(line, lineno)
            continue
        stripped = line.strip().replace(NBSP, " ").strip()
        if not stripped:
            continue
        if _EXAMPLES_RE.match(stripped) or _is_label(stripped):
            rest = lines[lineno - 1:]
            examples = _Examples(source, any(_bullet(r) for r in rest))
            if not _EXAMPLES_RE.match(stripped):
                examples.line(line, lineno)
            continue
        bullet = _bullet(line)
        if bullet:
            mark = bullet.group("mark")
            stars = len(mark) if mark.startswith("*") else 1
            check_depth(stars, source, lineno)
            depth_tree.add(Example("", line=lineno), _indent(line) + 4 * (stars - 1))
            stripped = bullet.group("body")
        else:
            stripped = line.strip()
        rendered = render_line(stripped, links)
        if not rendered:
            continue
        if not description and (_is_quote(rendered) or quote and _ATTRIBUTION_RE.match(rendered)):
            quote.append(rendered)  # the opening quote: quoted lines and their attribution
        else:
            description.append(rendered)
    sections = [s for s in examples.sections if s.examples] if examples else []
    page = Page(
        trope_id=None,
        title=None,
        source=source,
        format=Format.PLAINTEXT,
        description=description,
        quote=" ".join(quote) or None,
        related=dedupe_links(links),
        sections=sections,
    )
    if not page.description and not page.example_count():
        raise EmptyPageError("the page has neither a description nor examples", source)
    return [page]

