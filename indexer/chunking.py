"""Passages from tropes: description chunks and one passage per example, each within the model's window.

Description chunks are paragraph-aware: whole paragraphs are packed while they fit the target size,
long paragraphs are cut at sentence boundaries, and consecutive chunks share `overlap_sentences`.
Every example (and sub-example, which keeps its parent's work and media) is one passage; an example
too long for the window is cut into parts at sentence boundaries. Nothing is truncated silently:
each passage's embedding text is measured with the model's own tokenizer.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from .merge import Trope
from .page import Example

KINDS = ("description", "quote", "example")


class TokenCounterLike(Protocol):
    max_tokens: int

    def count(self, texts: list[str]) -> list[int]: ...


@dataclass(frozen=True)
class ChunkSettings:
    """How pages become passages; recorded in the index manifest."""

    max_tokens: int = 256           # hard limit: the model's window, special tokens included
    description_tokens: int = 256   # target size of a description chunk (measured: 256 ranks best, README)
    overlap_sentences: int = 1      # sentences shared by consecutive description chunks
    context: str = "title"          # what prefixes the embedded text: "title" or "none"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Passage:
    """One searchable unit. `text` is what a reader sees; `embed_text` is what the model encodes."""

    id: str
    trope_id: str
    trope_title: str
    kind: str
    media: str | None
    work: str | None
    parent_id: str | None
    text: str
    embed_text: str
    source: str
    position: int
    part: int = 0
    tokens: int = 0

    def public_dict(self) -> dict:
        return {
            "id": self.id, "trope_id": self.trope_id, "trope_title": self.trope_title, "kind": self.kind,
            "media": self.media, "work": self.work, "parent_id": self.parent_id, "text": self.text,
            "source": self.source,
        }


_SENTENCE_END_RE = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences (punctuation followed by space and a capital or digit)."""
    text = text.strip()
    if not text:
        return []
    out, start = [], 0
    for m in _SENTENCE_END_RE.finditer(text):
        out.append(text[start:m.start()].strip() + text[m.start():m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _is_bare_label(text: str, work: str | None) -> bool:
    """A bullet that only names a work ("Doctor Who:") says nothing by itself; its sub-bullets do."""
    core = re.sub(r"[\W_]+", " ", text).strip().lower()
    if not core:
        return True
    return work is not None and core == re.sub(r"[\W_]+", " ", work).strip().lower()


def _stable_id(*parts: object) -> str:
    h = hashlib.sha1("\x1f".join("" if p is None else str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:16]


class Chunker:
    """Turns Tropes into Passages; `counter` is the model's token counter."""

    def __init__(self, counter: TokenCounterLike, settings: ChunkSettings | None = None):
        self.counter = counter
        self.settings = settings or ChunkSettings(max_tokens=counter.max_tokens)
        if self.settings.max_tokens > counter.max_tokens:
            raise ValueError(f"max_tokens {self.settings.max_tokens} exceeds the model window {counter.max_tokens}")

    # -- embedding text -------------------------------------------------------------------
    def prefix(self, trope: Trope, work: str | None) -> str:
        if self.settings.context == "none":
            return ""
        return f"{trope.title} ({work}): " if work else f"{trope.title}: "

    # -- splitting ---------------------------------------------------------------------------
    def _fit_pieces(self, prefix: str, sentences: list[str], budget: int) -> list[str]:
        """Pack sentences into pieces whose prefix+text fits `budget` tokens; no overlap."""
        counts = self.counter.count(sentences) if sentences else []
        prefix_tokens = self.counter.count([prefix])[0] if prefix else 2
        pieces, current, size = [], [], prefix_tokens
        for sentence, n in zip(sentences, counts):
            n -= 2  # each count includes [CLS] and [SEP]
            if n + prefix_tokens > budget:
                if current:
                    pieces.append(" ".join(current))
                    current, size = [], prefix_tokens
                pieces.extend(self._split_words(prefix, sentence, budget))
                continue
            if current and size + n > budget:
                pieces.append(" ".join(current))
                current, size = [], prefix_tokens
            current.append(sentence)
            size += n
        if current:
            pieces.append(" ".join(current))
        return pieces

    def _split_words(self, prefix: str, text: str, budget: int) -> list[str]:
        """Last resort for a run-on sentence: windows of words that fit."""
        words = text.split()
        pieces: list[str] = []
        while words:
            lo, hi = 1, len(words)
            while lo < hi:  # largest word count that fits (binary search on the tokenizer)
                mid = (lo + hi + 1) // 2
                if self.counter.count([prefix + " ".join(words[:mid])])[0] <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            pieces.append(" ".join(words[:lo]))
            words = words[lo:]
        return pieces

    def description_chunks(self, trope: Trope) -> list[str]:
        """Paragraph-aware chunks of about `description_tokens`, with sentence overlap."""
        s = self.settings
        prefix = self.prefix(trope, None)
        units: list[tuple[int, str]] = []  # (paragraph index, sentence)
        for pi, paragraph in enumerate(trope.description):
            for sentence in split_sentences(paragraph):
                units.append((pi, sentence))
        if not units:
            return []
        texts = [u[1] for u in units]
        counts = [c - 2 for c in self.counter.count(texts)]
        prefix_tokens = self.counter.count([prefix])[0]
        chunks: list[str] = []
        i = 0
        while i < len(units):
            size, j = prefix_tokens, i
            while j < len(units) and (j == i or size + counts[j] <= s.description_tokens):
                size += counts[j]
                j += 1
                # end a chunk at a paragraph break when it is already more than half full
                if j < len(units) and units[j][0] != units[j - 1][0] and size >= s.description_tokens // 2:
                    break
            chunks.append(self._join_units(units[i:j]))
            if j >= len(units):
                break
            i = max(j - s.overlap_sentences, i + 1)
        # a chunk may still exceed the hard window (one enormous sentence): cut it further
        out: list[str] = []
        for chunk, n in zip(chunks, self.counter.count([prefix + c for c in chunks])):
            out.extend([chunk] if n <= s.max_tokens else self._fit_pieces(prefix, split_sentences(chunk), s.max_tokens))
        return out

    @staticmethod
    def _join_units(units: Sequence[tuple[int, str]]) -> str:
        parts, last = [], None
        for pi, sentence in units:
            if last is not None and pi != last:
                parts.append("\n\n")
            elif parts:
                parts.append(" ")
            parts.append(sentence)
            last = pi
        return "".join(parts)

    def _parts(self, prefix: str, text: str) -> list[str]:
        if self.counter.count([prefix + text])[0] <= self.settings.max_tokens:
            return [text]
        return self._fit_pieces(prefix, split_sentences(text), self.settings.max_tokens)

    # -- passages ------------------------------------------------------------------------------
    def chunk(self, trope: Trope) -> list[Passage]:
        passages: list[Passage] = []
        seen: Counter[str] = Counter()

        def add(kind, text, media, work, parent_id, source, part=0) -> Passage:
            prefix = self.prefix(trope, work)
            key = _stable_id(trope.trope_id, kind, media, work, parent_id, part, text)
            seen[key] += 1
            pid = key if seen[key] == 1 else _stable_id(key, seen[key])
            p = Passage(
                id=pid, trope_id=trope.trope_id, trope_title=trope.title, kind=kind, media=media, work=work,
                parent_id=parent_id, text=text, embed_text=prefix + text, source=source,
                position=len(passages), part=part,
            )
            passages.append(p)
            return p

        if trope.quote:
            for part, piece in enumerate(self._parts(self.prefix(trope, None), trope.quote)):
                add("quote", piece, None, None, None, trope.description_source, part)
        for chunk in self.description_chunks(trope):
            add("description", chunk, None, None, None, trope.description_source)
        for section in trope.sections:
            for example in section.examples:
                self._add_example(trope, example, section.media, None, None, add)
        self._measure(passages)
        return passages

    def _add_example(self, trope: Trope, example: Example, media, parent_work, parent_id, add) -> None:
        stack = [(example, parent_work, parent_id)]
        while stack:
            ex, inherited_work, parent = stack.pop()
            work = ex.work or inherited_work
            source = trope.example_sources.get(id(ex), trope.description_source)
            first = None
            pieces = [] if _is_bare_label(ex.text, work) else self._parts(self.prefix(trope, work), ex.text)
            for part, piece in enumerate(pieces):
                p = add("example", piece, media, work, parent if first is None else first.id, source, part)
                first = first or p
            # an example with no text of its own passes its parent on to its children
            first_id = first.id if first is not None else parent
            stack.extend((child, work, first_id) for child in reversed(ex.children))

    def _measure(self, passages: list[Passage]) -> None:
        counts = self.counter.count([p.embed_text for p in passages]) if passages else []
        for p, n in zip(passages, counts):
            if n > self.settings.max_tokens:  # would be truncated by the model: a bug, never silent
                raise RuntimeError(f"passage {p.id} has {n} tokens > {self.settings.max_tokens}")
            p.tokens = n


def chunk_tropes(tropes: Iterable[Trope], chunker: Chunker) -> list[Passage]:
    out: list[Passage] = []
    for trope in tropes:
        out.extend(chunker.chunk(trope))
    return out
