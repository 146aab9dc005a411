"""Rendered TV Tropes HTML pages -> `Page`.

Only the `#main-article` element is read, plus the page's metadata (canonical url, `<title>`,
`<h1>`) from the markup before it:

- the opening `div.indent` quote block(s) become `page.quote` (attribution included);
- the paragraphs before the examples become `page.description`, and their links to
  `Main/` trope pages become `page.related`;
- media folders (`div.folderlabel` + the `div.folder` after it) become `MediaSection`s, their
  `<ul><li>` bullets an `Example` tree (a nested list -> children); a bullet that opens with an
  italic or linked work name (`<em><a href="/pmwiki/pmwiki.php/Film/GalaxyQuest">Galaxy
  Quest</a></em>: ...`) names that work in `Example.work`;
- pages without folders put their bullets under the media named by an `<h2>`/`<h3>` header, or
  "Other";
- a list whose every bullet is just a link to one of the trope's own subpages
  (`ActionGirl/AnimeAndManga`) fills `page.subpages`; lists under a "Sub-tropes"/"See also"
  header add their trope links to `page.related`.

A split trope's example subpage (url `/pmwiki/pmwiki.php/ActionGirl/AnimeAndManga`, title
"Anime & Manga / Action Girl - TV Tropes") parses to trope id "ActionGirl", title "Action Girl",
and a single section whose media comes from the subpage name (`normalize_media`), whatever
folders (alphabetical "A-D", "Authors"...) the subpage uses inside.

Text is clean prose: no markup, entities, ads, scripts, image captions, folder controls or
footnote labels; a footnote's text follows the text it annotates as a parenthetical. Input that
is not such a page raises a `ParseError` subclass: EmptyPageError (nothing to read),
MalformedPageError (no `#main-article`, or the article is cut off before its end, or bullets
nested deeper than MAX_DEPTH), BinaryInputError (NUL bytes), PageTooLargeError.
"""

from __future__ import annotations

import html as _html
import itertools
import logging
import re
import warnings
from collections.abc import Iterable, Iterator

from bs4 import BeautifulSoup, NavigableString, Tag

from ..errors import BinaryInputError, EmptyPageError, MalformedPageError, PageTooLargeError, ParseError
from ..media import MEDIA_LABELS, normalize_media
from ..mojibake import PROSE_TABLE
from ..page import Example, Format, Link, Page
from ..wikiwords import title_from_id
from .inline import scrub_leaked_wiki_markup

__all__ = ["parse_text", "clean_text", "MAX_CHARS", "MAX_DEPTH", "MAX_TAGS"]

logger = logging.getLogger(__name__)

MAX_CHARS = 32 * 1024 * 1024   # characters; the driver enforces its own byte limit first
MAX_TAGS = 400_000             # tags in #main-article (a real 5 MB page has ~50k): bounds the parse time
MAX_DEPTH = 10                 # bullets nested deeper than this make a broken page

_SITE = "https://tvtropes.org/pmwiki/pmwiki.php"

# --- text cleaning --------------------------------------------------------------------------

# C1 control characters in decoded text are cp1252 bytes read as Latin-1 ("Film \x96 Animated",
# "&#150;"): map them to the characters they stand for; the five undefined ones are dropped.
# Invisible characters (zero-width space, BOM, soft hyphen, word joiner) are dropped.
_C1_TABLE: dict[int, str | None] = dict(PROSE_TABLE)
# A bare "&" (one that starts no character reference) is handed to the HTML parser as this
# private-use character, which it passes through in one piece, and turned back into "&" here:
# the parser spends a loop iteration on every "&" otherwise (seconds for a page full of them).
_AMP = "\ue000"
_LT = "\ue001"  # the same for a "<" that opens no tag
_C1_TABLE[ord(_AMP)] = "&"
_C1_TABLE[ord(_LT)] = "<"

_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_OPEN_PAREN_WS_RE = re.compile(r"\( +")
_CLOSE_PAREN_WS_RE = re.compile(r" +\)")


def clean_text(s: str) -> str:
    """Display prose from extracted text: cp1252 mojibake fixed, stray entities and wiki markup
    removed, whitespace (non-breaking spaces included) collapsed."""
    s = s.translate(_C1_TABLE)
    if "&" in s and _ENTITY_RE.search(s):
        s = _html.unescape(s).translate(_C1_TABLE)  # double-escaped "&amp;quot;" in the source
    s = _CONTROL_RE.sub(" ", scrub_leaked_wiki_markup(s))
    s = _WS_RE.sub(" ", s).strip()
    if "(" in s or ")" in s:
        s = _CLOSE_PAREN_WS_RE.sub(")", _OPEN_PAREN_WS_RE.sub("(", s))
    return s


# --- markup vocabulary ----------------------------------------------------------------------

_SKIP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "img", "input", "button", "select", "option",
        "textarea", "form", "iframe", "object", "embed", "svg", "canvas", "video", "audio", "head",
        "title", "meta", "link", "base", "nav", "footer", "math", "map", "area", "source", "track",
    }
)
_SKIP_CLASSES = frozenset(
    {
        "proper-ad-unit", "ad-caption", "acaptionright", "acaptionleft", "quoteright", "quoteleft",
        "notelabel", "lazy-video-script", "square_ad", "footer-article-ad", "lazy_load_img_box",
        "section-links", "folderlabel",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "ul", "ol", "li", "dl", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "br", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "blockquote",
        "center", "section", "article", "aside", "header", "main", "figure", "figcaption", "pre",
        "address", "details", "summary", "fieldset", "legend",
    }
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LISTS = frozenset({"ul", "ol"})

# Namespaces whose links at the start of a bullet name something other than a work.
_NOT_WORK_NS = frozenset(
    {
        "main", "usefulnotes", "tropers", "administrivia", "trivia", "ymmv", "laconic", "quotes",
        "analysis", "headscratchers", "wmg", "funny", "awesome", "heartwarming", "tearjerker",
        "nightmarefuel", "fridge", "characters", "imagelinks", "referencedby", "justforfun",
        "sugarwiki", "darthwiki", "pmwiki", "fanficrecs", "playingwith", "timeline", "synopsis",
    }
)
# Namespaces that are never a trope, so "Film/Music" is not an example subpage of a trope "Film".
_NOT_TROPE_NS = _NOT_WORK_NS | frozenset(
    {
        "creator", "franchise", "recap", "film", "series", "anime", "manga", "manhwa", "manhua",
        "literature", "lightnovel", "comicbook", "comicstrip", "webcomic", "webanimation",
        "weboriginal", "webvideo", "website", "westernanimation", "animation", "videogame",
        "visualnovel", "music", "theatre", "theater", "radio", "podcast", "fanfic", "roleplay",
        "tabletopgame", "pinball", "wrestling", "myth", "mythology", "religion", "ride", "toys",
        "advertising", "magazine", "newspapercomic", "audioplay", "blog", "letsplay", "sport",
        "sports", "standup", "puppetshow", "asiananimation", "comics",
        "artist", "tvtropes", "webserial",
    }
)

_PATH_RE = re.compile(r"pmwiki\.php/([A-Za-z0-9_]+)/([A-Za-z0-9_\-]+)")
_REL_PATH_RE = re.compile(r"^(?:\.\./)+([A-Za-z0-9_]+)/([A-Za-z0-9_\-]+)\.html?$")
_MIRROR_RE = re.compile(r"Mirrored from (\S+)")
_TITLE_SUFFIX_RE = re.compile(r"\s*[-\u2013\u2014|]\s*TV\s*Tropes\s*$", re.IGNORECASE)
_SQUASH_RE = re.compile(r"[^a-z0-9]")

_EXAMPLES_HEAD_RE = re.compile(r"\bexamples?\b", re.IGNORECASE)
_RELATED_HEAD_RE = re.compile(
    r"^\s*(?:sub-?tropes?|super-?tropes?|related(?:\s+tropes?)?|see\s+also|compare|contrast|"
    r"sister\s+tropes?|tropes?\s+index)\b",
    re.IGNORECASE,
)
_TOGGLE_ALL_RE = re.compile(r"open\s*/\s*close\s+all\s+folders", re.IGNORECASE)


def _classes(tag: Tag) -> list[str]:
    cls = tag.get("class")
    if isinstance(cls, str):
        return cls.split()
    return list(cls) if cls else []


def _skipped(tag: Tag) -> bool:
    if tag.name in _SKIP_TAGS:
        return True
    cls = tag.get("class")
    return bool(cls) and not _SKIP_CLASSES.isdisjoint(_classes(tag))


def _is_note(tag: Tag) -> bool:
    return "inlinefolder" in _classes(tag) or str(tag.get("isnote", "")).lower() == "true"


def _link_path(a: Tag) -> tuple[str, str] | None:
    """(namespace, name) a wiki link points to, from its href or (mirrored pages) its title."""
    for attr in ("href", "title"):
        value = a.get(attr)
        if isinstance(value, str):
            m = _PATH_RE.search(value)
            if m:
                return m.group(1), m.group(2)
    href = a.get("href")
    if isinstance(href, str):
        m = _REL_PATH_RE.match(href.strip())
        if m:
            return m.group(1), m.group(2)
    return None


# --- text extraction ------------------------------------------------------------------------


class _Close:
    """A stack marker for `_text`: the element whose text starts at pieces[start] ends here."""

    __slots__ = ("kind", "start", "data")

    def __init__(self, kind: str, start: int, data=None):
        self.kind = kind
        self.start = start
        self.data = data


def _text(
    nodes: Iterable,
    *,
    links: list[Link] | None = None,
    lists: list[Tag] | None = None,
) -> str:
    """Clean prose of `nodes` and their descendants, iteratively (any nesting depth).

    Footnotes become " (note text)"; ads, scripts, images, captions and footnote labels are
    dropped. With `links`, links to Main/ trope pages are appended as Link(text, trope id). With
    `lists`, nested <ul>/<ol> are not read but appended to `lists` (a bullet's sub-bullets).
    """
    pieces: list[str] = []
    open_notes = 0   # a note inside a note is only bracketed, not re-read (linear time)
    open_links = 0
    stack: list = list(nodes)
    stack.reverse()
    while stack:
        node = stack.pop()
        if isinstance(node, _Close):
            if node.kind == "block":
                pieces.append(" ")
            elif node.kind == "note":
                open_notes -= 1
                if open_notes:
                    pieces.append(")")
                else:
                    _close_note(pieces, node.start)
            elif node.kind == "link":
                open_links -= 1
                text = clean_text("".join(pieces[node.start:]))
                if text and links is not None:
                    links.append(Link(text, node.data))
            continue
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # not a Comment, CData, Doctype, script text...
                pieces.append(str(node))
            continue
        if not isinstance(node, Tag) or _skipped(node):
            continue
        name = node.name
        if lists is not None and name in _LISTS:
            lists.append(node)
            continue
        block = name in _BLOCK_TAGS
        if block:
            pieces.append(" ")
        if _is_note(node):
            if open_notes:
                pieces.append(" (")
            open_notes += 1
            stack.append(_Close("note", len(pieces)))
        elif links is not None and name == "a" and not open_links:
            path = _link_path(node)
            if path is not None and path[0] == "Main":
                open_links += 1
                stack.append(_Close("link", len(pieces), path[1]))
        elif block:
            stack.append(_Close("block", len(pieces)))
        children = list(node.children)
        children.reverse()
        stack.extend(children)
    return clean_text("".join(pieces))


def _close_note(pieces: list[str], start: int) -> None:
    """Replace a footnote's text (pieces[start:]) by " (text)", or by nothing when empty."""
    content = clean_text("".join(pieces[start:]))
    del pieces[start:]
    if content:
        if not (content.startswith("(") and content.endswith(")")):
            content = f"({content})"
        pieces.append(" " + content)


# --- page structure -------------------------------------------------------------------------


def _has_block_child(tag: Tag) -> bool:
    return any(isinstance(c, Tag) and c.name in _BLOCK_TAGS and c.name != "br" for c in tag.children)


def _events(root: Tag) -> Iterator[tuple[str, object]]:
    """The article as a flat sequence of blocks, descending through wrapper elements.

    Yields ("para", [inline nodes]), ("indent", tag), ("hr", tag), ("heading", tag),
    ("list", tag), ("folderlabel", tag), ("folder", tag) ... ("folder_end", tag).
    """
    run: list = []
    stack: list[tuple[Iterator, tuple[str, object] | None]] = [(iter(root.children), None)]
    while stack:
        it, end_event = stack[-1]
        node = next(it, None)
        if node is None:
            stack.pop()
            if run:
                yield ("heading" if _bold_label(run) else "para"), run
                run = []
            if end_event is not None:
                yield end_event
            continue
        if isinstance(node, NavigableString):
            if type(node) is NavigableString and node.strip():
                run.append(node)
            continue
        if not isinstance(node, Tag):
            continue
        cls = _classes(node)
        if "folderlabel" in cls:
            if run:
                yield ("heading" if _bold_label(run) else "para"), run
                run = []
            yield "folderlabel", node
            continue
        if _skipped(node):
            continue
        name = node.name
        if name not in _BLOCK_TAGS and not _has_block_child(node):
            run.append(node)
            continue
        if run:
            yield ("heading" if _bold_label(run) else "para"), run
            run = []
        if name in _HEADINGS:
            yield "heading", node
        elif name == "hr":
            yield "hr", node
        elif name in _LISTS:
            yield "list", node
        elif "folder" in cls:
            yield "folder", node
            stack.append((iter(node.children), ("folder_end", node)))
        elif "indent" in cls or name == "blockquote":
            yield "indent", node
        elif name == "p" and _bold_label(node.children):
            yield "heading", node
        elif name in ("table", "pre", "li") or (name == "p" and not _has_block_child(node)):
            yield "para", [node]
        elif name == "br":
            continue
        else:  # a wrapper (div, span, p holding blocks, dl/dd, center...): read what it holds
            stack.append((iter(node.children), None))


def _bold_label(nodes: Iterable) -> bool:
    """True when `nodes` are just one short bold label: a `<p><strong>DC</strong></p>` header."""
    label = None
    for node in nodes:
        if isinstance(node, NavigableString):
            if type(node) is NavigableString and node.strip():
                return False
            continue
        if not isinstance(node, Tag) or label is not None or node.name not in ("strong", "b"):
            return False
        label = node
    return label is not None and 0 < len(label.get_text()) <= 100


def _list_items(lst: Tag) -> Iterator[Tag]:
    """The bullets of a list: its <li>, looking through wrappers but not into other bullets."""
    stack = [iter(lst.children)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        if not isinstance(node, Tag) or _skipped(node):
            continue
        if node.name == "li":
            yield node
        elif node.name in _LISTS or node.name in ("dl", "dd", "dt", "div", "span", "p"):
            stack.append(iter(node.children))


def _work(li: Tag) -> str | None:
    """The work a bullet opens with: `<em><a href=".../Film/X">X</a></em>: ...`, a leading link
    to a work namespace (not Main/), or a leading italic title followed by a colon."""
    for child in li.children:
        if isinstance(child, NavigableString):
            if type(child) is not NavigableString or not child.strip():
                continue
            return None
        if not isinstance(child, Tag):
            continue
        if _skipped(child):
            continue
        name = child.name
        if name in ("em", "i", "cite"):
            links = [a for a in child.find_all("a") if isinstance(a, Tag)]
            paths = [_link_path(a) for a in links]
            if any(p is not None and p[0].lower() not in _NOT_WORK_NS for p in paths):
                return _work_name(child)
            if not links:
                nxt = child.next_sibling
                if isinstance(nxt, NavigableString) and str(nxt).lstrip().startswith(":"):
                    return _work_name(child)
            return None
        if name == "a":
            path = _link_path(child)
            if path is not None and path[0].lower() not in _NOT_WORK_NS:
                return _work_name(child)
            return None
        return None
    return None


def _work_name(tag: Tag) -> str | None:
    name = _text([tag]).rstrip(" :").strip()
    if not name or len(name) > 200:
        return None
    return name


def _examples(lst: Tag, source: str, line_offset: int) -> list[Example]:
    """The Example tree of a list, iteratively, in document order."""
    roots: list[Example] = []
    stack: list[tuple[Iterator[Tag], list[Example], int]] = [(_list_items(lst), roots, 1)]
    while stack:
        it, target, depth = stack[-1]
        li = next(it, None)
        if li is None:
            stack.pop()
            continue
        nested: list[Tag] = []
        text = _text(li.children, lists=nested)
        line = li.sourceline + line_offset if isinstance(li.sourceline, int) else None
        if depth > MAX_DEPTH:
            raise MalformedPageError(f"bullets nested {depth} deep (at most {MAX_DEPTH} allowed)", source, line)
        if text:
            example = Example(text=text, work=_work(li), line=line)
            target.append(example)
            child_target, child_depth = example.children, depth + 1
        else:  # an empty bullet: its sub-bullets take its place
            child_target, child_depth = target, depth
        if nested:
            items = itertools.chain.from_iterable(_list_items(n) for n in nested)
            stack.append((items, child_target, child_depth))
    return roots


def _subpage_list(lst: Tag, trope_id: str | None) -> list[str]:
    """Subpage names when every bullet of `lst` (nested ones too) is only a link to a subpage
    of `trope_id` ("* [[ActionGirl/AnimeAndManga Anime & Manga]]")."""
    if not trope_id:
        return []
    names: list[str] = []
    for li in lst.descendants:  # lazily: most lists fail on their first bullet
        if not isinstance(li, Tag) or li.name != "li":
            continue
        links = _own_links(li, 2)
        if len(links) != 1:
            return []
        path = _link_path(links[0])
        if path is None or path[0] != trope_id or _text(li.children, lists=[]) != _text([links[0]]):
            return []
        names.append(path[1])
    return names


def _own_links(li: Tag, limit: int) -> list[Tag]:
    """Up to `limit` <a> of a bullet's own text (not in its sub-bullets)."""
    found: list[Tag] = []
    stack = list(li.children)
    while stack and len(found) < limit:
        node = stack.pop()
        if not isinstance(node, Tag) or node.name in _LISTS:
            continue
        if node.name == "a":
            found.append(node)
        stack.extend(node.children)
    return found


def _list_links(lst: Tag) -> list[Link]:
    links: list[Link] = []
    _text([lst], links=links)
    return links


# --- metadata ------------------------------------------------------------------------------


def _find_article(text: str) -> tuple[int, str] | None:
    """(offset, tag name) of the element with id="main-article"."""
    for m in itertools.islice(re.finditer(r"""(?<=\s)id\s*=\s*["']?main-article(?=["'\s/>])""", text), 16):
        start = text.rfind("<", 0, m.start())
        if start < 0:
            continue
        tag = re.match(r"<([A-Za-z][A-Za-z0-9-]*)\s", text[start:start + 64])
        if tag and ">" not in text[start:m.start()]:
            return start, tag.group(1).lower()
    return None


def _element_end(text: str, start: int, tag: str) -> int | None:
    """Offset just past the end tag closing the element opened at `start`, or None when the
    text ends first. Counts only `tag` elements; skips comments, scripts and styles the way the
    HTML parser does, in one linear pass."""
    token_re = re.compile(r"<!--|<(script|style)\b|<(/?)%s\b" % re.escape(tag), re.IGNORECASE)
    depth = 0
    pos = start
    while True:
        m = token_re.search(text, pos)
        if m is None:
            return None
        if m.group(0) == "<!--":
            end = text.find("-->", m.end())
            if end < 0:
                return None
            pos = end + 3
            continue
        if m.group(1):
            close = re.compile(r"</%s\s*>" % m.group(1), re.IGNORECASE).search(text, m.end())
            if close is None:
                return None
            pos = close.end()
            continue
        gt = text.find(">", m.end())
        if gt < 0:
            return None
        if m.group(2):
            depth -= 1
        elif text[gt - 1] != "/":
            depth += 1
        pos = gt + 1
        if depth <= 0:
            return pos


_RAW_RE = re.compile(r"<!--|<(script|style)\b", re.IGNORECASE)
_RAW_END_RE = {
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
_STRAY_LT_RE = re.compile(r"<(?![A-Za-z]|/[A-Za-z])")
_BARE_AMP_RE = re.compile(r"&(?!#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{0,31};?)")
_TAG_START_RE = re.compile(r"</?[A-Za-z]")
_PRIVATE_RE = re.compile("[\ue000-\ue0ff]")
_TAG_RE = re.compile(r"<[^<>]*>")


def _sanitize(markup: str) -> str:
    """Markup the HTML parser reads in linear time: comments, scripts and styles removed (their
    newlines kept, so line numbers stay right), every "<" that opens no tag ("<!", "<?", "< 3")
    and every bare "&" swapped for _LT and _AMP. Python's html.parser is quadratic on some of those
    (thousands of "<!--") and slow on others."""
    out: list[str] = []
    pos = 0
    while True:
        m = _RAW_RE.search(markup, pos)
        if m is None:
            out.append(markup[pos:])
            break
        out.append(markup[pos:m.start()])
        if m.group(1):
            close = _RAW_END_RE[m.group(1).lower()].search(markup, m.end())
            end = len(markup) if close is None else close.end()
        else:
            end = markup.find("-->", m.end())
            end = len(markup) if end < 0 else end + 3
        out.append("\n" * markup.count("\n", m.start(), end))
        pos = end
    text = _STRAY_LT_RE.sub(_LT, _PRIVATE_RE.sub("", "".join(out)))
    return _BARE_AMP_RE.sub(_AMP, text) if "&" in text else text


def _soup(markup: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bs4's "looks like a URL/XML" hints are not errors here
        return BeautifulSoup(_sanitize(markup), "html.parser")


_HEAD_TAG_RE = re.compile(r"<(?:link|meta|input)\b[^<>]*>", re.IGNORECASE)
_HEAD_ELEMENT_RES = (
    re.compile(r"<title\b[^<>]*>.*?</title\s*>", re.IGNORECASE | re.DOTALL),
    re.compile(r"<h1\b[^<>]*>.*?</h1\s*>", re.IGNORECASE | re.DOTALL),
    re.compile(r"<p\b[^<>]*\bid\s*=\s*[\"']?current_url\b[^<>]*>[^<>]*</p\s*>", re.IGNORECASE),
)
_HEAD_MARKS = ("canonical", "og:url", "-hidden")


def _head_soup(head_text: str) -> BeautifulSoup:
    """The few elements of the page before its article that name it (title, h1, canonical link,
    og:url, the mirrored page's url), parsed on their own: the site's navigation around them is
    most of the page and none of its content."""
    head_text = _sanitize(head_text)
    snippets = [m.group(0) for m in _HEAD_TAG_RE.finditer(head_text) if any(k in m.group(0) for k in _HEAD_MARKS)]
    for element_re in _HEAD_ELEMENT_RES:
        m = element_re.search(head_text)
        if m:
            snippets.append(m.group(0))
    return _soup("\n".join(snippets))


def _page_path(head: BeautifulSoup, head_text: str) -> tuple[str, str] | None:
    """(namespace, name) of the page: canonical link, og:url, the mirrored page's own url."""
    candidates: list[str] = []
    for link in head.find_all("link"):
        rel = link.get("rel") or []
        rel = rel.split() if isinstance(rel, str) else rel
        if "canonical" in [r.lower() for r in rel] and isinstance(link.get("href"), str):
            candidates.append(link["href"])
    for meta in head.find_all("meta"):
        if str(meta.get("property", "")).lower() == "og:url" and isinstance(meta.get("content"), str):
            candidates.append(meta["content"])
    current = head.find(id="current_url")
    if isinstance(current, Tag):
        candidates.append(current.get_text())
    mirror = _MIRROR_RE.search(head_text[:2000])
    if mirror:
        candidates.append(mirror.group(1))
    for url in candidates:
        m = _PATH_RE.search(url)
        if m:
            return m.group(1), m.group(2)
    group, name = head.find(id="groupname-hidden"), head.find(id="title-hidden")
    if isinstance(group, Tag) and isinstance(name, Tag):
        path = f"pmwiki.php/{group.get('value', '')}/{name.get('value', '')}"
        m = _PATH_RE.fullmatch(path)
        if m:
            return m.group(1), m.group(2)
    return None


def _squash(s: str) -> str:
    return _SQUASH_RE.sub("", s.lower())


def _titles(head: BeautifulSoup) -> tuple[str | None, str | None]:
    """(the <title> without " - TV Tropes", the <h1> text's trope part when it reads
    "Trope / Subpage")."""
    title = None
    tag = head.find("title")
    if isinstance(tag, Tag):
        title = _TITLE_SUFFIX_RE.sub("", _text(tag.children)) or None
    h1 = head.find("h1", class_="entry-title") or head.find("h1")
    h1_title = None
    if isinstance(h1, Tag):
        strong = h1.find("strong")
        if isinstance(strong, Tag):
            h1_title = _text([strong]).rstrip(" /").strip() or None
        elif title is None:
            title = _text([h1]) or None
    return title, h1_title


# --- the parser -----------------------------------------------------------------------------


def parse_text(text: str, source: str) -> list[Page]:
    """Parse one rendered TV Tropes HTML page (one file) into a one-element list of Pages."""
    try:
        return [_parse(text, source)]
    except ParseError:
        raise
    except RecursionError:
        raise MalformedPageError("the page's markup is nested too deep", source) from None
    except Exception as exc:  # the HTML parser or a page shape nobody planned for
        logger.debug("unexpected error parsing %s", source, exc_info=True)
        raise MalformedPageError(f"unreadable HTML ({type(exc).__name__}: {exc})", source) from exc


def _parse(text: str, source: str) -> Page:
    if not isinstance(text, str):
        raise BinaryInputError("the page is not text", source)
    if len(text) > MAX_CHARS:
        raise PageTooLargeError(f"the page has more than {MAX_CHARS} characters", source)
    if "\x00" in text:
        raise BinaryInputError("the page holds NUL bytes: not a text page", source)
    if not text.strip():
        raise EmptyPageError("the page is empty", source)

    found = _find_article(text)
    if found is None:
        visible = _html.unescape(_TAG_RE.sub(" ", _sanitize(text)))
        if not any(c.isalnum() for c in visible):
            raise EmptyPageError("the page holds no text", source)
        raise MalformedPageError(
            "no #main-article element: not a rendered TV Tropes page, or cut off before its article", source
        )
    start, tag = found
    end = _element_end(text, start, tag)
    if end is None:
        line = text.count("\n", 0, start) + 1
        raise MalformedPageError("the page is cut off: #main-article never ends", source, line)
    article_html = text[start:end]
    if article_html.count("<") > MAX_TAGS and len(_TAG_START_RE.findall(article_html)) > MAX_TAGS:
        raise PageTooLargeError(f"#main-article has more than {MAX_TAGS} tags", source)

    head_text = text[:start]
    head = _head_soup(head_text)
    path = _page_path(head, head_text)
    title, h1_title = _titles(head)

    trope_id: str | None = None
    subpage_media: str | None = None
    url: str | None = None
    if path is not None:
        ns, name = path
        url = f"{_SITE}/{ns}/{name}"
        if ns == "Main":
            trope_id = name
        elif ns.lower() not in _NOT_TROPE_NS and (
            normalize_media(name) in MEDIA_LABELS or (h1_title and _squash(h1_title) == ns.lower())
        ):
            trope_id = ns
            subpage_media = normalize_media(name) or "Other"
            title = _subpage_title(ns, name, title, h1_title)
    if trope_id and not title:
        title = title_from_id(trope_id)

    page = Page(trope_id=trope_id, title=title, source=source, format=Format.HTML, url=url)
    root = _soup(article_html).find(True)
    if not isinstance(root, Tag):
        raise EmptyPageError("#main-article is empty", source)
    _read_article(page, root, subpage_media, text.count("\n", 0, start))
    if not (page.description or page.quote or page.sections or page.subpages or page.related):
        raise EmptyPageError("#main-article holds no text", source)
    return page


def _subpage_title(ns: str, name: str, title: str | None, h1_title: str | None) -> str:
    """The trope's title on one of its subpages: h1 "<strong>Action Girl / </strong>Anime &
    Manga", else the part of "Anime & Manga / Action Girl" (either order) naming the trope."""
    if h1_title:
        return h1_title
    if title and " / " in title:
        parts = [p.strip() for p in title.split(" / ")]
        for part in parts:
            if _squash(part) == ns.lower():
                return part
        media = normalize_media(name)
        others = [p for p in parts if p and normalize_media(p) != media and _squash(p) != name.lower()]
        if len(others) == 1:
            return others[0]
    return title_from_id(ns)


def _read_article(page: Page, root: Tag, subpage_media: str | None, line_offset: int) -> None:
    source = page.source
    related: list[Link] = []
    quote: list[str] = []
    zone = "intro"          # intro (before any paragraph) -> description -> examples
    after_hr = False
    pending: list[Tag] = []  # lists met in the description, kept there only if a paragraph follows
    list_mode = "examples"  # or "related" under a "Sub-tropes:" header
    header_media: str | None = None
    label_media: str | None = None
    folders: list[str | None] = []

    def commit_pending() -> None:
        for lst in pending:
            for li in _list_items(lst):
                text = _text([li], links=related)
                if text:
                    page.description.append(text)
        pending.clear()

    def start_examples() -> str:
        if pending:
            commit_pending()
        return "examples"

    def add_list(lst: Tag) -> None:
        subs = _subpage_list(lst, page.trope_id)
        if subs:
            page.subpages.extend(s for s in subs if s not in page.subpages)
            return
        if list_mode == "related" and not folders:
            related.extend(_list_links(lst))
            return
        media = subpage_media or (folders[-1] if folders else None) or header_media or "Other"
        examples = _examples(lst, source, line_offset)
        if examples:
            page.section(media).examples.extend(examples)

    for kind, node in _events(root):
        if kind == "para":
            if zone == "examples":
                continue  # group labels between lists ("DC", "Star Trek"), end-of-page asides
            text = _text(node, links=related)
            if text:
                commit_pending()
                page.description.append(text)
                zone, list_mode = "description", "examples"
        elif kind == "indent":
            if zone == "examples":
                continue
            text = _text([node], links=related if zone == "description" else None)
            if not text:
                continue
            if zone == "intro":
                quote.append(text)
            else:
                commit_pending()
                page.description.append(text)
        elif kind == "hr":
            after_hr = True
        elif kind == "heading":
            head = _text(node if isinstance(node, list) else [node])
            if not head:
                continue
            related_head = bool(_RELATED_HEAD_RE.match(head))
            examples_head = bool(_EXAMPLES_HEAD_RE.search(head))
            if zone != "examples" and not (after_hr or examples_head):
                if related_head:  # "See also:" inside the description: its list is links
                    list_mode = "related"
                continue  # a heading inside the description ("As a Death Trope, ...")
            zone = start_examples()
            label_media = None
            if related_head:
                list_mode, header_media = "related", None
            else:
                list_mode = "examples"
                media = None if examples_head else normalize_media(head)
                header_media = media if media in MEDIA_LABELS else None
        elif kind == "folderlabel":
            zone = start_examples()
            label = _text(node.children)
            if _TOGGLE_ALL_RE.search(label) or "toggleAllFolders" in str(node.get("onclick", "")):
                continue
            label_media = normalize_media(label)
        elif kind == "folder":
            zone = start_examples()
            folders.append(label_media or header_media)
            label_media = None
        elif kind == "folder_end":
            if folders:
                folders.pop()
        elif kind == "list":
            if zone == "examples" or after_hr or subpage_media is not None:
                zone = start_examples()
                add_list(node)
            elif list_mode == "related":
                related.extend(_list_links(node))
            else:
                pending.append(node)

    if pending:  # lists after the last paragraph of a page with no examples marker: its examples
        for lst in pending:
            add_list(lst)
        pending.clear()

    page.quote = " ".join(quote) or None
    seen: set[str] = set()
    for link in related:
        if link.target not in seen and link.target != page.trope_id:
            seen.add(link.target)
            page.related.append(link)
    page.sections = [s for s in page.sections if s.examples]
