"""JSON Lines trope records -> `Page`s, one per non-empty line.

A record: {"trope_id": "ArmCannon", "title": "Arm Cannon" (optional), "url": "..." (optional),
"description": "paragraphs\\n\\nseparated by blank lines", "examples": [{"media": "VideoGame",
"work": "Mega Man", "text": "..."}] (optional)}.

- `title` missing or empty -> derived from the id ("ADarkerShadeOfGrey" -> "A Darker Shade of Grey");
- `url` missing or empty -> None;
- `description` -> paragraphs split on blank lines ("• " bullet lines become paragraphs of their
  own), whitespace collapsed, stray footnote labels ("note\\u00a0") and wiki markup removed;
- `examples` -> one `MediaSection` per `normalize_media(media)` ("VideoGame" -> "Video Games"),
  in order of first appearance, each entry an `Example(text, work)`.

`iter_pages(lines, source)` streams: it yields a Page for each good line and a ParseError (with
the 1-based line number) for each bad one, so one broken record never stops the others.
`parse_text(text, source)` reads a whole text through it: it returns the good pages, logging a
warning per bad line, and raises the first error only when no line parsed at all.
"""

from __future__ import annotations

import html as _html
import json
import logging
import re
from collections.abc import Iterable, Iterator

from ..errors import BinaryInputError, EmptyPageError, MalformedPageError, PageTooLargeError, ParseError
from ..media import normalize_media
from ..mojibake import PROSE_TABLE
from .inline import scrub_leaked_wiki_markup
from .quotes import split_opening_quote
from ..page import Example, Format, Page
from ..wikiwords import title_from_id

__all__ = ["parse_text", "iter_pages", "parse_record", "MAX_LINE_CHARS"]

logger = logging.getLogger(__name__)

MAX_LINE_CHARS = 16 * 1024 * 1024  # one record; the driver enforces its own byte limit first

_C1_TABLE = PROSE_TABLE

_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# "Women\u00a0note\u00a0Feeling..." / "this.note\u00a0It was...": the label of an inlined footnote
_NOTE_LABEL_RE = re.compile(r"note\u00a0+")
_WIKI_LINK_RE = re.compile(r"\[\[([^\[\]|]{1,200})\]\]")
_PARA_SPLIT_RE = re.compile(r"\n[ \t\u00a0\r\f\v]*\n")
_BULLET_RE = re.compile(r"^\s*[\u2022\u25cf\u25e6\u2023\u2043]\s*")
_WS_RE = re.compile(r"\s+")
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def _clean(s: str) -> str:
    """Display prose: mojibake C1 characters mapped, entities decoded, footnote labels and wiki
    markup removed, whitespace collapsed."""
    s = s.translate(_C1_TABLE)
    if "&" in s and _ENTITY_RE.search(s):
        s = _html.unescape(s).translate(_C1_TABLE)
    if "note\u00a0" in s:
        s = _NOTE_LABEL_RE.sub(" ", s)
    if "[[" in s:
        s = _WIKI_LINK_RE.sub(r"\1", s)
    s = _CONTROL_RE.sub(" ", scrub_leaked_wiki_markup(s))
    return _WS_RE.sub(" ", s).strip()


def _paragraphs(description: str) -> list[str]:
    out: list[str] = []
    for block in _PARA_SPLIT_RE.split(description.replace("\r\n", "\n").replace("\r", "\n")):
        lines: list[str] = []
        for line in block.split("\n"):
            if _BULLET_RE.match(line):  # "• item" lines: one paragraph each
                if lines:
                    out.append(_clean(" ".join(lines)))
                    lines = []
                out.append(_clean(_BULLET_RE.sub("", line, count=1)))
            else:
                lines.append(line)
        if lines:
            out.append(_clean(" ".join(lines)))
    return [p for p in out if p]


def _string(record: dict, key: str, line: int, source: str, *, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise MalformedPageError(f"the record has no {key!r}", source, line)
        return None
    if not isinstance(value, str):
        raise MalformedPageError(f"{key!r} is a {type(value).__name__}, not a string", source, line)
    return value


def parse_record(line: str, source: str, line_no: int) -> Page:
    """One JSONL line -> Page (source "file:line"); a ParseError naming the line otherwise."""
    if len(line) > MAX_LINE_CHARS:
        raise PageTooLargeError(f"the record is longer than {MAX_LINE_CHARS} characters", source, line_no)
    if "\x00" in line:
        raise BinaryInputError("the line holds NUL bytes", source, line_no)
    try:
        record = json.loads(line)
    except RecursionError:
        raise MalformedPageError("the record's JSON is nested too deep", source, line_no) from None
    except ValueError as exc:  # JSONDecodeError, and huge-number conversion limits
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise MalformedPageError(f"the line is not valid JSON ({reason})", source, line_no) from None
    if not isinstance(record, dict):
        kind = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(record), "null")
        raise MalformedPageError(f"the record is a JSON {kind}, not an object", source, line_no)

    trope_id = (_string(record, "trope_id", line_no, source, required=True) or "").strip()
    if not trope_id:
        raise MalformedPageError("the record's 'trope_id' is empty", source, line_no)
    description = _string(record, "description", line_no, source, required=True) or ""
    # optional fields of the wrong type are ignored like missing ones
    title = record.get("title")
    title = (_clean(title) if isinstance(title, str) else "") or title_from_id(trope_id)
    url = record.get("url")
    url = (url.strip() if isinstance(url, str) else "") or None

    page = Page(
        trope_id=trope_id,
        title=title or trope_id,
        source=f"{source}:{line_no}",
        format=Format.JSONL,
        url=url,
    )
    page.quote, page.description = split_opening_quote(_paragraphs(description))
    examples = record.get("examples")
    if examples is not None and not isinstance(examples, list):
        raise MalformedPageError(f"'examples' is a {type(examples).__name__}, not a list", source, line_no)
    skipped = 0
    for entry in examples or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
            skipped += 1
            continue
        text = _clean(entry["text"])
        if not text:
            skipped += 1
            continue
        media = entry.get("media")
        work = entry.get("work")
        media = normalize_media(media if isinstance(media, str) else None) or "Other"
        work = (_clean(work) or None) if isinstance(work, str) else None
        page.section(media).examples.append(Example(text=text, work=work, line=line_no))
    if skipped:
        logger.debug("%s:%d: %d example(s) without text skipped", source, line_no, skipped)
    if not page.description and not page.sections:
        raise EmptyPageError("the record has no description and no examples", source, line_no)
    return page


def iter_pages(lines: Iterable[str | bytes], source: str) -> Iterator[Page | ParseError]:
    """Yield a Page per non-empty line and a ParseError (naming the line) per bad one."""
    for line_no, line in enumerate(lines, 1):
        if isinstance(line, ParseError):   # the reader already judged this line (e.g. too large)
            yield line
            continue
        try:
            if isinstance(line, (bytes, bytearray)):
                line = bytes(line).decode("utf-8", "replace")
            if not isinstance(line, str):
                raise MalformedPageError(f"the line is a {type(line).__name__}, not text", source, line_no)
            if line_no == 1:
                line = line.lstrip("\ufeff")
            if not line.strip():
                continue
            page = parse_record(line, source, line_no)
        except ParseError as exc:
            # detached: a kept error must not hold its traceback's frames or the JSON error's copy
            # of the whole line (a file of a million bad lines would hold them all)
            exc.__traceback__ = exc.__context__ = exc.__cause__ = None
            yield exc
        except Exception as exc:  # never let one record stop the stream
            logger.debug("unexpected error in %s:%d", source, line_no, exc_info=True)
            yield MalformedPageError(f"unreadable record ({type(exc).__name__}: {exc})", source, line_no)
        else:
            yield page


def parse_text(text: str, source: str) -> list[Page]:
    """Every good record of a JSONL text. Bad lines are logged as warnings; when no line parses,
    the first error is raised (EmptyPageError for a text with no records at all)."""
    if not isinstance(text, str):
        raise BinaryInputError("the input is not text", source)
    pages: list[Page] = []
    errors: list[ParseError] = []
    # split on "\n" only: str.splitlines() would also split inside records on U+2028, U+0085...
    for item in iter_pages(text.split("\n"), source):
        if isinstance(item, ParseError):
            errors.append(item)
        else:
            pages.append(item)
    if not pages:
        if errors:
            raise errors[0]
        raise EmptyPageError("the JSONL text holds no records", source)
    for err in errors:
        logger.warning("skipped a bad record: %s", err)
    return pages
