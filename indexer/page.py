"""The page model every format parses into: one trope page, its description, quote, links and examples."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Format(str, enum.Enum):
    """The page formats tropesearch reads. `--format` takes these values."""

    PMWIKI = "pmwiki"          # PmWiki source markup
    PLAINTEXT = "plaintext"    # rendered plain text with ["url"] link marks
    MARKDOWN = "markdown"      # rendered markdown with media folders and nested bullets
    HTML = "html"              # rendered HTML page
    JSONL = "jsonl"            # JSON Lines records, one trope per line

    def __str__(self) -> str:  # click shows choices with str()
        return self.value


@dataclass
class Link:
    """A link in the page text: what it reads as, and where it points (a trope id, a Namespace/Page path or a URL)."""

    text: str
    target: str


@dataclass
class Example:
    """One example bullet: clean prose text, the work it names (if any), and nested sub-examples."""

    text: str
    work: str | None = None
    children: list["Example"] = field(default_factory=list)
    line: int | None = None

    def walk(self):
        """Yield (depth, example) for this example and every descendant, depth 0 for itself."""
        stack = [(0, self)]
        while stack:
            depth, ex = stack.pop()
            yield depth, ex
            stack.extend((depth + 1, c) for c in reversed(ex.children))


@dataclass
class MediaSection:
    """A media folder: its normalised label ("Anime & Manga") and the examples in it."""

    media: str
    examples: list[Example] = field(default_factory=list)


@dataclass
class Page:
    """One trope page as parsed from one source (a file, or one JSONL record)."""

    trope_id: str | None
    title: str | None
    source: str
    format: Format
    url: str | None = None
    description: list[str] = field(default_factory=list)   # clean paragraphs
    quote: str | None = None                               # the page quote, attribution included
    related: list[Link] = field(default_factory=list)      # links to other tropes
    sections: list[MediaSection] = field(default_factory=list)
    subpages: list[str] = field(default_factory=list)      # example subpages ("AnimeAndManga")

    def example_count(self) -> int:
        return sum(1 for s in self.sections for ex in s.examples for _ in ex.walk())

    def section(self, media: str) -> MediaSection:
        """The section for `media`, created (at the end) when missing."""
        for s in self.sections:
            if s.media == media:
                return s
        s = MediaSection(media)
        self.sections.append(s)
        return s
