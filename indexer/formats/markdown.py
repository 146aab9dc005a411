"""Parser for rendered markdown trope pages.

Layout of such a page (see data/sample/seeds/002_*.txt):

    _"Opening quote."_                    -> page.quote (with any dash-led attribution paragraph)
    Description paragraphs...             -> page.description
    ___
    ## Examples:
    \u00a0\u00a0\u00a0\u00a0open/close all folders\u00a0    (dropped)
    \u00a0\u00a0\u00a0\u00a0Anime and Manga\u00a0           -> MediaSection(normalize_media(label))
    -   _Work_: example                   -> Example(work="Work")
        -   nested example (4 spaces per level)
            **Name**: quoted dialogue     -> appended to the example above
    ___                                   (end of the examples; anything after is page footer)

Inline: `_italic_`, `*italic*`, `**bold**`, backslash escapes (`\\[`, `\\_`, ...), `[text](url)`
links (text kept, recorded as Links from the description), HTML tags and entities. A footnote
mark `<sup>note&nbsp;</sup>` is removed: in this rendering the note's content itself is not in
the text (the words after the mark are the page's own text, as the HTML of the same page shows),
so there is nothing to turn into a parenthetical.

A level-1 heading as the first line (`# Boldly Coming`) names the trope; otherwise
`trope_id`/`title` are None and a manifest fills them.
"""

from __future__ import annotations

import html
import re

from ..errors import EmptyPageError
from ..media import normalize_media
from ..page import Example, Format, Link, MediaSection, Page
from .inline import NBSP, ExampleTree, clean, dedupe_links, id_from_title, known_media, link_target, split_lines

_DEFAULT_MEDIA = "Other"

# Backslash escapes are swapped for private-use characters while the markup is rendered.
_ESCAPABLE = "\\`*_{}[]()#+-.!|>~<\"'$&:;=@^"
_ESC_BASE = 0xE010
_ESC_RE = re.compile(r"\\([" + re.escape(_ESCAPABLE) + r"])")
_PROTECTED_RE = re.compile("[" + chr(_ESC_BASE) + "-" + chr(_ESC_BASE + len(_ESCAPABLE) - 1) + "]")

_NOTE_MARK_RE = re.compile(r"<sup>\s*note\s*(?:&nbsp;|\u00a0|\s)*</sup>[\u00a0 ]*", re.IGNORECASE)
_MARK_GONE = "\ue0f1"  # where a note mark was: the spaces before it are trimmed
_IMAGE_RE = re.compile(r"!\[[^\[\]\n]{0,500}\]\([^()\s]{0,2000}\)")
_LINK_RE = re.compile(r"\[([^\[\]\n]{0,500})\]\(([^()\s]{0,2000})(?:\s+\"[^\"\n]{0,200}\")?\)")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>\n]{0,500})?\s*/?>")
_BOLD_RE = re.compile(r"\*\*|(?<![A-Za-z0-9])__|__(?![A-Za-z0-9])")
_ITALIC_US_RE = re.compile(r"(?<![A-Za-z0-9])_(?=[^\s_])([^_\n]+)(?<=\S)_(?![A-Za-z0-9])")
_ITALIC_STAR_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+)(?<=\S)\*(?![\w*])")
_QUOTES_RE = re.compile(r"'{2,}|~~|`")

_HEADER_RE = re.compile(r"^(#{1,6})\s+(.*)$")
_EXAMPLES_RE = re.compile(r"^examples?\b", re.IGNORECASE)
_RULE_RE = re.compile(r"^(?:_[ \t]*){3,}$|^(?:-[ \t]*){3,}$|^(?:\*[ \t]*){3,}$")
_BULLET_RE = re.compile(r"^(?P<ind>[ \t]*)(?:[-*+]|\d{1,3}[.)])(?: +|\t)(?P<body>\S.*)$")
_QUOTE_PREFIX_RE = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_FOLDERS_RE = re.compile(r"open/close all folders", re.IGNORECASE)
_WORK_RE = re.compile(r"^_(?P<w>[^_\n]{1,200})_(?=[ \t]*:|[ \t]*$|\.(?:\s|$))")
_ATTRIBUTION_RE = re.compile("^(?:--|[\u2014\u2015\u2013])")
_QUOTE_END_RE = re.compile("[\"\u201d][ \t]*(?:--|[\u2014\u2015\u2013])")
_LABEL_WS = " \t\u00a0"


def _protect(s: str) -> str:
    return _ESC_RE.sub(lambda m: chr(_ESC_BASE + _ESCAPABLE.index(m.group(1))), s)


def _restore(s: str) -> str:
    return _PROTECTED_RE.sub(lambda m: _ESCAPABLE[ord(m.group(0)) - _ESC_BASE], s)


def _drop_note_mark(m: re.Match) -> str:
    nxt = m.string[m.end():m.end() + 1]
    return _MARK_GONE + ("" if not nxt or nxt in ",.;:!?)]" else " ")


def _drop_note_marks(s: str) -> str:
    """Remove `<sup>note&nbsp;</sup>` marks (the note text is not in the page) and their spacing."""
    pieces = _NOTE_MARK_RE.sub(_drop_note_mark, s).split(_MARK_GONE)
    return "".join(p.rstrip(" \t\u00a0") if i < len(pieces) - 1 else p for i, p in enumerate(pieces))


def _heading(m: re.Match) -> str:
    return m.group(2).strip().rstrip("#").strip()


def _finish(s: str) -> str:
    """Protected markdown (links already taken out) -> clean prose."""
    s = _BR_RE.sub(" ", s)
    s = _TAG_RE.sub("", s)
    s = _BOLD_RE.sub("", s)
    s = _ITALIC_US_RE.sub(r"\1", s)
    s = _ITALIC_STAR_RE.sub(r"\1", s)
    s = _QUOTES_RE.sub("", s)
    s = html.unescape(s)
    return clean(_restore(s))


def render(text: str, links: list[Link] | None = None) -> str:
    """Clean prose for a markdown fragment; `[text](url)` links are appended to `links`."""
    s = _protect(text)
    if "<" in s:
        s = _drop_note_marks(s)
    if "](" in s:
        s = _IMAGE_RE.sub("", s)

        def link(m: re.Match) -> str:
            if links is not None and m.group(2):
                links.append(Link(_finish(m.group(1)), link_target(_restore(m.group(2)))))
            return m.group(1)

        s = _LINK_RE.sub(link, s)
    return _finish(s)


def _work(body: str) -> str | None:
    """The work an example opens with: `_X-Men_:`, `_Smallville_.` or a bullet that is only `_Title_`."""
    m = _WORK_RE.match(_protect(body))
    return (_finish(m.group("w")) or None) if m else None


def _is_quote(text: str) -> bool:
    return len(text) > 2 and text[0] in "\"\u201c" and (text[-1] in "\"\u201d" or bool(_QUOTE_END_RE.search(text)))


def _label(line: str, after_blank: bool) -> str | None:
    """The media label of a folder label line (`\u00a0\u00a0\u00a0\u00a0Film\u00a0`), else None."""
    if len(line) > 200 or not line[:1] in _LABEL_WS:
        return None
    lead = len(line) - len(line.lstrip(_LABEL_WS))
    label = line.strip(_LABEL_WS)
    if not label or _BULLET_RE.match(line) or label.startswith(">"):
        return None
    if NBSP in line[:lead]:
        return label
    # a label whose non-breaking spaces were lost: an indented known media name on its own
    if after_blank and known_media(label):
        return label
    return None


class _Builder:
    def __init__(self, source: str):
        self.source = source
        self.title: str | None = None
        self.description: list[str] = []
        self.quote: list[str] = []
        self.links: list[Link] = []
        self.para: list[str] = []
        self.para_is_blockquote = True
        self.in_examples = False
        self.done = False
        self.sections: list[MediaSection] = []
        self.tree: ExampleTree | None = None
        self.last: Example | None = None
        self.block: list[str] = []  # continuation lines of the last example

    # -- description
    def flush_para(self) -> None:
        if not self.para:
            return
        raw, blockquote = " ".join(self.para), self.para_is_blockquote
        self.para, self.para_is_blockquote = [], True
        links: list[Link] = []
        text = render(raw, links)
        if not text:
            return
        self.links.extend(links)
        if not self.description and (blockquote or _is_quote(text) or self.quote and _ATTRIBUTION_RE.match(text)):
            self.quote.append(text)
        else:
            self.description.append(text)

    def desc_line(self, line: str) -> None:
        q = _QUOTE_PREFIX_RE.match(line)
        if q:
            line = line[q.end():]
        else:
            self.para_is_blockquote = False
        if line.strip():
            self.para.append(line.strip())

    # -- examples
    def start_examples(self) -> None:
        self.flush_para()
        self.in_examples = True

    def open_section(self, label: str) -> None:
        self.start_examples()
        self.flush_block()
        media = normalize_media(render(label[:200])) or _DEFAULT_MEDIA
        section = next((s for s in self.sections if s.media == media), None)
        if section is None:
            section = MediaSection(media)
            self.sections.append(section)
        self.tree = ExampleTree(section.examples, self.source)
        self.last = None

    def add_example(self, indent: int, body: str, lineno: int) -> None:
        self.flush_block()
        if self.tree is None:
            self.open_section(_DEFAULT_MEDIA)
        text = render(body)
        if not text:
            return
        example = Example(text, work=_work(body), line=lineno)
        self.tree.add(example, indent)
        self.last = example

    def flush_block(self) -> None:
        if not self.block:
            return
        text = render(" ".join(self.block))
        self.block = []
        if text and self.last is not None:
            self.last.text = f"{self.last.text} {text}"

    def example_line(self, line: str, lineno: int, after_blank: bool) -> None:
        stripped = line.strip(_LABEL_WS)
        if not stripped:
            self.flush_block()
            return
        if _RULE_RE.match(stripped):
            self.flush_block()
            if any(s.examples for s in self.sections):
                self.done = True  # the page footer follows
            return
        if _FOLDERS_RE.search(stripped) and len(stripped) < 60:
            return
        header = _HEADER_RE.match(stripped)
        if header and not line[:1].isspace():
            if not _EXAMPLES_RE.match(_heading(header)):
                self.open_section(_heading(header))
            return
        label = _label(line, after_blank)
        if label is not None:
            self.open_section(label)
            return
        bullet = _BULLET_RE.match(line.expandtabs(4))
        if bullet:
            self.add_example(len(bullet.group("ind")), bullet.group("body"), lineno)
            return
        q = _QUOTE_PREFIX_RE.match(line)
        self.block.append(line[q.end():] if q else stripped)

    def page(self) -> Page:
        self.flush_para()
        self.flush_block()
        return Page(
            trope_id=id_from_title(self.title) if self.title else None,
            title=self.title,
            source=self.source,
            format=Format.MARKDOWN,
            description=self.description,
            quote=" ".join(self.quote) or None,
            related=dedupe_links(self.links),
            sections=[s for s in self.sections if s.examples],
        )


def parse_text(text: str, source: str) -> list[Page]:
    """Parse rendered markdown `text` (read from `source`) into one Page."""
    lines = split_lines(text, source)
    b = _Builder(source)
    seen_content = False
    after_blank = True
    desc_bullets = ExampleTree([], source)  # checks the nesting of bullets in the description
    for lineno, line in enumerate(lines, 1):
        if b.done:
            break
        if b.in_examples:
            b.example_line(line, lineno, after_blank)
            after_blank = not line.strip(_LABEL_WS)
            continue
        stripped = line.strip(_LABEL_WS)
        blank = not stripped
        if blank:
            b.flush_para()
        elif _RULE_RE.match(stripped):
            b.flush_para()
        elif _FOLDERS_RE.search(stripped) and len(stripped) < 60:
            b.start_examples()
        elif (header := _HEADER_RE.match(stripped)) and not line[:1].isspace():
            b.flush_para()
            heading = _heading(header)
            if _EXAMPLES_RE.match(heading):
                b.start_examples()
            elif len(header.group(1)) == 1 and not seen_content and b.title is None:
                b.title = render(heading) or None
            else:
                b.para.append(heading)
                b.para_is_blockquote = False
                b.flush_para()
        elif (label := _label(line, after_blank)) is not None and NBSP in line:
            b.open_section(label)
        elif bullet := _BULLET_RE.match(line.expandtabs(4)):
            desc_bullets.add(Example("", line=lineno), len(bullet.group("ind")))
            b.flush_para()
            b.desc_line(bullet.group("body"))
            b.flush_para()
        else:
            b.desc_line(line)
        seen_content = seen_content or not blank
        after_blank = blank
    page = b.page()
    if not page.description and not page.example_count():
        raise EmptyPageError("the page has neither a description nor examples", source)
    return [page]
