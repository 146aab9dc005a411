"""Parser for TV Tropes PmWiki source markup.

The page is read line by line into blocks:

- the opening quote (`->` lines or a `[[quoteblock]]` before any description) -> `page.quote`;
- description paragraphs (blank-line separated) until `!!Examples:` or the first media folder;
- the example subpage list (`* InterspeciesRomance/AnimeAndManga`, `* Trope/{{Film}}`), which
  names the trope: `trope_id`, `title` and `page.subpages`;
- media folders (`[[folder:Film]]` ... `[[/folder]]`, or `[[AC:Film]]` / `!!!Film` headers) with
  `*` / `**` / `***` bullets -> `MediaSection`s holding the examples tree.

Inline markup is rendered by `_Inline`: `[[Target text]]`, `[[Film/Foo]]`, `{{Braced Word}}s`,
bare `Film/Foo` and CamelCase WikiWords become words (recorded as `Link`s), `[[note]]...[[/note]]`
becomes a parenthetical right after the annotated text, `[[spoiler:...]]` keeps its text,
`''italic''`/`'''bold'''` marks go, image and caption markup is dropped.

Broken structure raises MalformedPageError with the line: `[[` unclosed within its paragraph,
a folder, note or quoteblock never closed, bullets nested deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import html
import re
from collections import Counter

from ..errors import EmptyPageError, MalformedPageError
from ..media import normalize_media
from ..page import Example, Format, Link, MediaSection, Page
from ..wikiwords import split_camel_case, title_from_id
from .inline import (
    ExampleTree, check_depth, clean, dedupe_links, id_from_title, is_wikiword, parenthetical, split_lines,
)

# Nested `[[` deeper than this is not real markup (and would make rendering quadratic).
_MAX_NEST = 32
_DEFAULT_MEDIA = "Other"

# Namespaces that prefix work and meta pages ("Film/GalaxyQuest"); a page list entry under one
# of these is an example, not an example subpage of the trope.
NAMESPACES = frozenset(
    """Main Film Series Literature Anime Manga Manhwa Manhua LightNovel VisualNovel VideoGame
    WesternAnimation WebAnimation Webcomic WebComic WebOriginal WebVideo Comics ComicBook
    ComicStrip NewspaperComic Music Theatre Radio Podcast Franchise Creator TabletopGame Toys
    Pinball Myth Mythology Religion Roleplay Recap Characters UsefulNotes Funny Awesome
    Heartwarming Tearjerker YMMV Trivia WMG Fanfic FanFic FanWorks Quotes Laconic Analysis
    Headscratchers DarthWiki SoYouWantTo Administrivia Sandbox Website Platform AudioPlay
    Advertising ProWrestling Sport Sports Magazine MagazinePulp Pantheon Music Videogame
    Literature Film Series Shout FunnyMoments ShoutOut ImageLinks Main""".split()
)

_BLOCK_TAG_RE = re.compile(
    r"\[\[(folder:[^\[\]\n]*|/folder|foldercontrol|quoteblock|/quoteblock|index|/index|AC:[^\[\]\n]*)\]\]",
    re.IGNORECASE,
)
_HEADER_RE = re.compile(r"^(!{1,6})\s*(.*)$")
_EXAMPLES_RE = re.compile(r"^examples?\b", re.IGNORECASE)
_RULE_RE = re.compile(r"^-{4,}\s*$")
_QUOTE_LINE_RE = re.compile(r"^-{1,6}>(.*)$")
_BULLET_RE = re.compile(r"^([*#]+)(.*)$")
_SUBPAGE_RE = re.compile(  # "Trope/AnimeAndManga", "Trope/{{Film}}", "[[Trope/Film Films]]"
    r"^(?P<trope>[A-Z][A-Za-z0-9]*)/(?:\{\{(?P<braced>[A-Za-z0-9 ]{1,80})\}\}|(?P<page>[A-Za-z0-9]+))$"
    r"|^\[\[(?P<btrope>[A-Z][A-Za-z0-9]*)/(?P<bpage>[A-Za-z0-9]+)(?:\s+[^\[\]\n]{0,200})?\]\]$"
)
_WORK_ITALIC_RE = re.compile(r"^'{2,5}(?P<w>[^\n]{1,200}?)'{2,5}\s*:")
_WORK_BARE_RE = re.compile(r"^(?P<w>\[\[[A-Za-z][A-Za-z0-9]*/[^\[\]\n]{1,200}\]\]|[A-Z][A-Za-z0-9]*/[A-Za-z0-9]+)\s*:")

# inline
_TOKEN_RE = re.compile("\ue000(\\d+)\ue001")
_BRACKETS_RE = re.compile(r"\[\[|\]\]")
_BRACE_RE = re.compile(r"\{\{([^{}\[\]\n]{1,200})\}\}([a-z]{0,12})")
_NS_BRACE_RE = re.compile(r"(?<![\w/])([A-Z][A-Za-z0-9]*)/\{\{([A-Za-z0-9]{1,100})\}\}")
_NS_LINK_RE = re.compile(r"(?<![\w/])(?P<ns>[A-Z][A-Za-z0-9]*)/(?P<page>[A-Za-z0-9]+)(?![\w/])")
_WORD_RE = re.compile(r"(?<![\w/])[A-Z][A-Za-z0-9]*(?![\w])")
_SMALL_RE = re.compile(r"\[-([^\[\]\n]{0,500}?)-\]")
_QUOTES_RE = re.compile(r"'{2,}")
_PREFIX_RE = re.compile(r"^([a-z][a-z0-9-]*):", re.IGNORECASE)
_URL_RE = re.compile(r"^(?:https?://|ftp://|www\.)[^\s\[\]{}<>\"']+$", re.IGNORECASE)
_TARGET_RE = re.compile(r"^(?P<ns>[A-Za-z][A-Za-z0-9]*)/(?P<page>[A-Za-z0-9_]+)(?:#\S*)?$")
_SIMPLE_TARGET_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")

_KEEP_PREFIXES = frozenset({"spoiler", "strike", "invoked", "center", "small", "big"})
_DROP_PREFIXES = frozenset(
    {"quoteright", "quoteleft", "quote", "caption", "caption-width-right", "caption-width-left",
     "caption-width", "folder", "ac", "redirect", "labelnote", "hottip", "tooltip", "floatboxright",
     "floatboxleft", "img", "image"}
)
_DROP_TAGS = frozenset({"foldercontrol", "/folder", "quoteblock", "/quoteblock", "index", "/index", "/spoiler"})


class _NoteMark:
    """`[[note]]` (opens=True) or `[[/note]]` in a bracket item list; `pos` locates its line."""

    __slots__ = ("opens", "pos")

    def __init__(self, opens: bool, pos: int):
        self.opens = opens
        self.pos = pos


class _Inline:
    """Renders PmWiki inline markup of one page into prose, collecting the links it meets."""

    def __init__(self, source: str):
        self.source = source
        self.links: list[Link] = []
        self.collect = False  # record links (only wanted from the description and quote)
        self._targets: set[str] = set()
        self._store: list[str] = []
        self._line = 1
        self._text = ""

    # -- tokens: rendered pieces kept out of reach of later passes (WikiWord splitting)
    def _token(self, s: str) -> str:
        self._store.append(self._resolve(s))
        return f"\ue000{len(self._store) - 1}\ue001"

    def _resolve(self, s: str) -> str:
        if "\ue000" not in s:
            return s
        return _TOKEN_RE.sub(lambda m: self._store[int(m.group(1))], s)

    def _line_at(self, pos: int) -> int:
        return self._line + self._text.count("\n", 0, pos)

    def _link(self, text: str, target: str) -> None:
        if self.collect and target not in self._targets:
            self._targets.add(target)
            self.links.append(Link(self.finish(text), target))

    def finish(self, s: str) -> str:
        """Resolve tokens and strip the last quote marks and entities: the clean prose."""
        s = self._resolve(s)
        if "''" in s:
            s = _QUOTES_RE.sub("", s)
        if "\\\\" in s:
            s = s.replace("\\\\", " ")
        if "&" in s:
            s = html.unescape(s)
        return clean(s)

    # -- public
    def render(self, text: str, line: int, collect: bool = False) -> str:
        """Clean prose for one paragraph or bullet `text` starting at `line`.

        With `collect`, the links met are appended to `self.links`.
        """
        self.collect = collect
        self._store.clear()
        self._line, self._text = line, text
        s = self._escapes(text)
        if "/{{" in s:  # "Website/{{Cracked}}" is the link Website/Cracked
            s = _NS_BRACE_RE.sub(r"\1/\2", s)
        s = _BRACE_RE.sub(self._brace, s)
        s = self._brackets(s)
        s = self._words(s)
        return self.finish(s)

    # -- passes
    def _escapes(self, s: str) -> str:
        """`[=literal=]` -> the literal text, protected from every later pass."""
        if "[=" not in s:
            return s
        out, pos = [], 0
        while True:
            start = s.find("[=", pos)
            if start < 0:
                break
            end = s.find("=]", start + 2)
            if end < 0:
                break
            out.append(s[pos:start])
            out.append(self._token(s[start + 2:end]))
            pos = end + 2
        out.append(s[pos:])
        return "".join(out)

    def _brace(self, m: re.Match) -> str:
        inner, suffix = m.group(1).strip(), m.group(2)
        if "|" in inner:
            target, text = (p.strip() for p in inner.split("|", 1))
        else:
            target, text = inner, inner
        t = _TARGET_RE.match(target)
        if t:
            target = t.group("page") if t.group("ns") == "Main" else f"{t.group('ns')}/{t.group('page')}"
            if text == inner:
                text = split_camel_case(t.group("page"))
        else:
            target = id_from_title(target) or ""
            if " " not in text:
                text = split_camel_case(text)
        text += suffix
        if target:
            self._link(text, target)
        return self._token(text)

    def _brackets(self, s: str) -> str:
        """Resolve `[[...]]` groups innermost first; notes become parentheticals."""
        if "[[" not in s and "]]" not in s:
            return s
        frames: list[list] = [[]]
        opens: list[int] = []
        pos = 0
        for m in _BRACKETS_RE.finditer(s):
            if m.start() > pos:
                frames[-1].append(s[pos:m.start()])
            pos = m.end()
            if m.group() == "[[":
                if len(frames) > _MAX_NEST:
                    raise MalformedPageError("[[ markup nested too deep", self.source, self._line_at(m.start()))
                frames.append([])
                opens.append(m.start())
            elif len(frames) == 1:
                frames[0].append(" ")  # a stray ]] is dropped
            else:
                items = frames.pop()
                frames[-1].append(self._group(items, opens.pop()))
        if len(frames) > 1:
            raise MalformedPageError("[[ without a closing ]]", self.source, self._line_at(opens[0]))
        if pos < len(s):
            frames[0].append(s[pos:])
        return self._notes(frames[0])

    def _notes(self, items: list) -> str:
        out: list[str] = []
        stack: list[tuple[int, list[str]]] = []
        for it in items:
            if isinstance(it, _NoteMark):
                if it.opens:
                    stack.append((it.pos, []))
                elif stack:
                    _, buf = stack.pop()
                    (stack[-1][1] if stack else out).append(parenthetical("".join(buf)))
            else:
                (stack[-1][1] if stack else out).append(it)
        if stack:
            raise MalformedPageError("[[note]] without a closing [[/note]]", self.source, self._line_at(stack[0][0]))
        return "".join(out)

    def _group(self, items: list, pos: int):
        content = self._notes(items)
        head = content.strip()
        low = head.lower()
        if low in ("note",) or low.startswith("labelnote:"):
            return _NoteMark(True, pos)
        if low in ("/note", "/labelnote"):
            return _NoteMark(False, pos)
        if low in _DROP_TAGS:
            return ""
        prefix = _PREFIX_RE.match(head)
        if prefix and not _URL_RE.match(head.split(None, 1)[0]):
            name = prefix.group(1).lower()
            if name in _KEEP_PREFIXES:
                return self._token(self._words(head[prefix.end():]))
            if name in _DROP_PREFIXES or name.startswith("caption"):
                return ""
        return self._link_group(head)

    def _link_group(self, head: str) -> str:
        if "|" in head:
            target, text = (p.strip() for p in head.split("|", 1))
        elif "->" in head:
            text, target = (p.strip() for p in head.rsplit("->", 1))
        else:
            parts = head.split(None, 1)
            target = parts[0] if parts else ""
            text = parts[1] if len(parts) > 1 else ""
        resolved = self._target(target)
        if resolved is None:
            return self._token(head)
        norm, display = resolved
        text = text or display
        self._link(text, norm)
        return self._token(text)

    def _target(self, target: str) -> tuple[str, str] | None:
        """(normalised target, default display text) for a link target, None if it is not one."""
        if _URL_RE.match(target):
            return target, target
        t = _TARGET_RE.match(target)
        if t:
            ns, page = t.group("ns"), t.group("page")
            return (page if ns == "Main" else f"{ns}/{page}"), split_camel_case(page)
        if _SIMPLE_TARGET_RE.match(target):
            return target, split_camel_case(target)
        return None

    def _words(self, s: str) -> str:
        """Bare `Namespace/PageName` links and CamelCase WikiWords -> words."""
        if "[-" in s:
            s = _SMALL_RE.sub(r"\1", s)
        if "/" in s:
            s = _NS_LINK_RE.sub(self._ns_link, s)
        return _WORD_RE.sub(self._wikiword, s)

    def _ns_link(self, m: re.Match) -> str:
        ns, page = m.group("ns"), m.group("page")
        if not (ns in NAMESPACES or is_wikiword(ns)) or not (page[0].isupper() or page[0].isdigit()):
            return m.group(0)
        text = split_camel_case(page)
        self._link(text, page if ns == "Main" else f"{ns}/{page}")
        return self._token(text)

    def _wikiword(self, m: re.Match) -> str:
        word = m.group(0)
        if not is_wikiword(word):
            return word
        text = split_camel_case(word)
        self._link(text, word)
        return text


class _PageBuilder:
    """Block-level state while reading a PmWiki page top to bottom."""

    def __init__(self, source: str):
        self.source = source
        self.inline = _Inline(source)
        self.description: list[str] = []
        self.quote_parts: list[str] = []
        self.quote_done = False
        self.para: list[str] = []
        self.para_line = 0
        self.in_examples = False
        self.sections: list[MediaSection] = []
        self.section: MediaSection | None = None
        self.tree: ExampleTree | None = None
        self.last: Example | None = None
        self.folder_line: int | None = None
        self.quoteblock: tuple[int, list[str]] | None = None
        self.subpages: list[str] = []
        self.subpage_tropes: Counter[str] = Counter()

    # -- description
    def flush_para(self) -> None:
        if not self.para:
            return
        raw, line = "\n".join(self.para), self.para_line
        self.para = []
        text = self.inline.render(raw, line, collect=True)
        if text:
            self.description.append(text)
            self.quote_done = True

    def add_para_line(self, line: str, lineno: int) -> None:
        if not self.para:
            self.para_line = lineno
        self.para.append(line)

    def quote_text(self, raw: str, lineno: int) -> None:
        """A quote line or quoteblock: the page quote before the description, else ordinary text."""
        if self.in_examples:
            self.append_to_example(raw, lineno)
            return
        self.flush_para()
        text = self.inline.render(raw, lineno, collect=True)
        if text:
            (self.description if self.quote_done else self.quote_parts).append(text)

    # -- examples
    def start_examples(self) -> None:
        self.flush_para()
        self.in_examples = True
        self.quote_done = True

    def open_section(self, label: str, lineno: int) -> None:
        self.start_examples()
        media = normalize_media(self.inline.render(label[:200], lineno)) or _DEFAULT_MEDIA
        self.section = self._section(media)
        self.tree = ExampleTree(self.section.examples, self.source)
        self.last = None

    def _section(self, media: str) -> MediaSection:
        for s in self.sections:
            if s.media == media:
                return s
        s = MediaSection(media)
        self.sections.append(s)
        return s

    def add_example(self, depth: int, raw: str, lineno: int) -> None:
        if self.section is None or self.tree is None:
            self.section = self._section(_DEFAULT_MEDIA)
            self.tree = ExampleTree(self.section.examples, self.source)
        text = self.inline.render(raw, lineno)
        if not text:
            return
        example = Example(text, work=self.work(raw, lineno), line=lineno)
        self.tree.add(example, depth)
        self.last = example

    def work(self, raw: str, lineno: int) -> str | None:
        m = _WORK_ITALIC_RE.match(raw) or _WORK_BARE_RE.match(raw)
        if not m or "''" in m.group("w"):
            return None
        return self.inline.render(m.group("w"), lineno) or None

    def append_to_example(self, raw: str, lineno: int) -> None:
        text = self.inline.render(raw, lineno)
        if text and self.last is not None:
            self.last.text = f"{self.last.text} {text}"

    # -- subpage list
    def subpage(self, content: str) -> bool:
        m = _SUBPAGE_RE.match(content.replace("''", "").strip())
        if not m:
            return False
        trope = m.group("trope") or m.group("btrope")
        if trope in NAMESPACES or not is_wikiword(trope):
            return False
        name = m.group("page") or m.group("bpage") or "".join(m.group("braced").split())
        self.flush_para()
        self.subpage_tropes[trope] += 1
        if name not in self.subpages:
            self.subpages.append(name)
        return True

    def page(self) -> Page:
        self.flush_para()
        trope_id = self.subpage_tropes.most_common(1)[0][0] if self.subpage_tropes else None
        return Page(
            trope_id=trope_id,
            title=title_from_id(trope_id) if trope_id else None,
            source=self.source,
            format=Format.PMWIKI,
            description=self.description,
            quote=" ".join(self.quote_parts) or None,
            related=dedupe_links(self.inline.links),  # links from the description and quote
            sections=[s for s in self.sections if s.examples],
            subpages=self.subpages,
        )


def _segments(line: str):
    """Split a line around block tags: yields ('tag', tag_text) and ('text', text) pieces."""
    if "[[" not in line:
        yield "text", line
        return
    pos = 0
    for m in _BLOCK_TAG_RE.finditer(line):
        if line[pos:m.start()].strip():
            yield "text", line[pos:m.start()]
        yield "tag", m.group(1)
        pos = m.end()
    if pos == 0:
        yield "text", line
    elif line[pos:].strip():
        yield "text", line[pos:]


def parse_text(text: str, source: str) -> list[Page]:
    """Parse PmWiki source `text` (read from `source`) into one Page."""
    lines = split_lines(text, source)
    b = _PageBuilder(source)
    for lineno, line in enumerate(lines, 1):
        for kind, seg in _segments(line):
            if kind == "tag":
                _block_tag(b, seg, lineno)
            else:
                _text_line(b, seg, lineno)
    if b.folder_line is not None:
        raise MalformedPageError("[[folder:...]] without a closing [[/folder]]", source, b.folder_line)
    if b.quoteblock is not None:
        raise MalformedPageError("[[quoteblock]] without a closing [[/quoteblock]]", source, b.quoteblock[0])
    page = b.page()
    if not page.description and not page.example_count():
        raise EmptyPageError("the page has neither a description nor examples", source)
    return [page]


def _block_tag(b: _PageBuilder, tag: str, lineno: int) -> None:
    low = tag.lower()
    if low.startswith("folder:"):
        if b.folder_line is not None:
            raise MalformedPageError("[[folder:...]] without a closing [[/folder]]", b.source, b.folder_line)
        b.folder_line = lineno
        b.open_section(tag[len("folder:"):], lineno)
    elif low == "/folder":
        b.folder_line = None
        b.section = b.tree = b.last = None
    elif low.startswith("ac:"):
        b.open_section(tag[len("ac:"):], lineno)
    elif low == "quoteblock":
        if b.quoteblock is None:
            b.flush_para()
            b.quoteblock = (lineno, [])
    elif low == "/quoteblock":
        if b.quoteblock is not None:
            start, parts = b.quoteblock
            b.quoteblock = None
            b.quote_text("\n".join(parts), start)
    # foldercontrol, index, /index: layout only


def _text_line(b: _PageBuilder, line: str, lineno: int) -> None:
    stripped = line.strip()
    if b.quoteblock is not None:
        b.quoteblock[1].append(line)
        return
    if not stripped:
        b.flush_para()
        return
    if stripped.startswith("%%") or _RULE_RE.match(stripped):
        b.flush_para()
        return
    header = _HEADER_RE.match(stripped)
    if header:
        title = header.group(2).strip().strip("'").strip()
        if _EXAMPLES_RE.match(title):
            b.start_examples()
        elif b.in_examples and len(header.group(1)) >= 2 and title:
            b.open_section(title, lineno)
        else:
            b.flush_para()
            b.add_para_line(title, lineno)
            b.flush_para()
        return
    if _EXAMPLES_RE.match(stripped.strip("'").strip()) and len(stripped) < 40 and stripped.rstrip("'").endswith(":"):
        b.start_examples()
        return
    quote = _QUOTE_LINE_RE.match(stripped)
    if quote:
        b.quote_text(quote.group(1), lineno)
        return
    bullet = _BULLET_RE.match(stripped)
    if bullet:
        depth = len(bullet.group(1))
        check_depth(depth, b.source, lineno)
        content = bullet.group(2).strip()
        if not content or b.subpage(content):
            return
        if b.in_examples:
            b.add_example(depth, content, lineno)
        else:
            b.flush_para()
            b.add_para_line(content, lineno)
            b.flush_para()
        return
    if b.in_examples:
        b.append_to_example(stripped, lineno)
    else:
        b.add_para_line(stripped, lineno)
