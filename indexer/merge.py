"""One trope, however many inputs: merge pages that share a trope id.

Seeds 000 and 001 are the same trope in two formats, the HTML corpus has it a third time and a
JSONL record may hold it again. The merged trope takes its description from the richest source
and the union of examples, an example met twice (same text after normalisation) kept once.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from .page import Format, Link, MediaSection, Page

# Structured formats say most reliably what is description and what is an example.
_FORMAT_RANK = {Format.HTML: 0, Format.JSONL: 1, Format.MARKDOWN: 2, Format.PMWIKI: 3, Format.PLAINTEXT: 4}


@dataclass
class Trope:
    """A trope as indexed: identity, the chosen description, and all examples, with their sources."""

    trope_id: str
    title: str
    url: str | None
    description: list[str]
    description_source: str
    quote: str | None
    related: list[Link]
    sections: list[MediaSection]
    sources: list[str] = field(default_factory=list)
    # source of each example, by id(example)
    example_sources: dict[int, str] = field(default_factory=dict)


def text_key(text: str) -> str:
    """Normalised text for duplicate detection: lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def merge_pages(pages: list[Page]) -> list[Trope]:
    """Group pages by trope id (case-insensitively) and merge each group into one Trope."""
    groups: "OrderedDict[str, list[Page]]" = OrderedDict()
    for page in pages:
        groups.setdefault(page.trope_id.lower(), []).append(page)
    return [_merge_group(group) for group in groups.values()]


def _merge_group(group: list[Page]) -> Trope:
    ranked = sorted(group, key=lambda p: (_FORMAT_RANK.get(p.format, 9), p.source))
    # the richest description wins; format rank decides between near-equals (within 10%)
    longest = max(sum(map(len, p.description)) for p in ranked)
    best = next(p for p in ranked if sum(map(len, p.description)) >= longest * 0.9)
    trope = Trope(
        trope_id=_pick(p.trope_id for p in ranked),
        title=_pick(p.title for p in ranked),
        url=_pick(p.url for p in ranked),
        description=list(best.description),
        description_source=best.source,
        quote=_pick(p.quote for p in ranked),
        related=[],
        sections=[],
        sources=sorted({p.source for p in group}),
    )
    seen_links: set[str] = set()
    for page in ranked:
        for link in page.related:
            if link.target.lower() not in seen_links:
                seen_links.add(link.target.lower())
                trope.related.append(link)
    seen_examples: set[str] = set()
    sections: "OrderedDict[str, MediaSection]" = OrderedDict()
    for page in ranked:
        for section in page.sections:
            target = sections.setdefault(section.media, MediaSection(section.media))
            for example in section.examples:
                key = text_key(example.text)
                if key and key in seen_examples:
                    continue
                seen_examples.add(key)
                target.examples.append(example)
                for _, ex in example.walk():
                    trope.example_sources[id(ex)] = page.source
    trope.sections = [s for s in sections.values() if s.examples]
    return trope


def _pick(values):
    for value in values:
        if value:
            return value
    return None
