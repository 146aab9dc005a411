"""Chunking: passages keep their trope, media, work and parent; all fit the model window; ids are stable."""

import re

import pytest

from indexer.chunking import ChunkSettings, Chunker, split_sentences
from indexer.merge import merge_pages
from indexer.page import Example, Format, MediaSection, Page
from indexer.parse import parse_sources

DEBRIS = ("[[", "]]", "{{", "}}", "''", '["http', "<sup>", "&nbsp;", "</sup>", "\u00a0")


@pytest.fixture(scope="module")
def sample_passages(sample_dir, token_counter):
    report = parse_sources([sample_dir])
    assert not report.skipped, [str(e) for e in report.skipped]
    tropes = merge_pages(report.pages)
    chunker = Chunker(token_counter)
    return tropes, [p for t in tropes for p in chunker.chunk(t)]


def test_every_passage_fits_the_model_window(sample_passages, token_counter):
    _, passages = sample_passages
    counts = token_counter.count([p.embed_text for p in passages])
    assert max(counts) <= token_counter.max_tokens == 256
    assert all(p.tokens == n for p, n in zip(passages, counts))


def test_no_markup_debris_in_any_passage(sample_passages):
    _, passages = sample_passages
    for p in passages:
        for mark in DEBRIS:
            assert mark not in p.text, (mark, p.source, p.text[:200])
        assert not re.search(r"\bnote\s*$|\w+note [A-Z]", p.text), p.text[:200]


def test_one_trope_from_two_formats(sample_passages):
    tropes, passages = sample_passages
    ids = [t.trope_id for t in tropes]
    assert ids.count("InterspeciesRomance") == 1
    texts = [p.text for p in passages]
    assert len(texts) == len(set(texts)) or len([t for t in texts if texts.count(t) > 1]) < 3


def test_passage_ids_are_stable_across_runs(sample_dir, token_counter, sample_passages):
    _, first = sample_passages
    report = parse_sources([sample_dir])
    again = [p for t in merge_pages(report.pages) for p in Chunker(token_counter).chunk(t)]
    assert [p.id for p in first] == [p.id for p in again]
    assert len({p.id for p in first}) == len(first)


def _trope(description, sections=(), quote=None):
    page = Page("TestTrope", "Test Trope", "mem.txt", Format.PLAINTEXT, description=list(description),
                quote=quote, sections=list(sections))
    return merge_pages([page])[0]


def test_long_description_is_split_at_sentences_with_overlap(token_counter):
    sentences = [f"Sentence number {i} talks about heroes and villains in space opera." for i in range(60)]
    trope = _trope([" ".join(sentences[:30]), " ".join(sentences[30:])])
    chunker = Chunker(token_counter, ChunkSettings(description_tokens=96))
    passages = chunker.chunk(trope)
    assert len(passages) > 3
    assert all(p.kind == "description" for p in passages)
    for a, b in zip(passages, passages[1:]):
        assert split_sentences(a.text)[-1] == split_sentences(b.text)[0]  # one sentence of overlap
    for p in passages:
        assert p.text.endswith(".")  # cut at sentence boundaries


def test_example_tree_keeps_work_media_and_parent(token_counter):
    child = Example("Played for laughs when the alien shapeshifts.")
    parent = Example("Galaxy Quest: the crew meets real aliens.", work="Galaxy Quest", children=[child])
    trope = _trope(["A trope."], [MediaSection("Films", [parent])])
    passages = Chunker(token_counter).chunk(trope)
    ex = [p for p in passages if p.kind == "example"]
    assert [p.work for p in ex] == ["Galaxy Quest", "Galaxy Quest"]
    assert [p.media for p in ex] == ["Films", "Films"]
    assert ex[1].parent_id == ex[0].id and ex[0].parent_id is None


def test_bare_work_label_is_not_a_passage_but_its_children_are(token_counter):
    children = [Example("The captain kisses an alien queen."), Example("A deleted scene has more.")]
    trope = _trope(["A trope."], [MediaSection("Live-Action TV", [Example("Doctor Who:", work="Doctor Who", children=children)])])
    ex = [p for p in Chunker(token_counter).chunk(trope) if p.kind == "example"]
    assert [p.text for p in ex] == [c.text for c in children]
    assert all(p.work == "Doctor Who" and p.parent_id is None for p in ex)


def test_overlong_example_is_split_not_truncated(token_counter):
    text = " ".join(f"This is sentence {i} of a very long example about a starship crew." for i in range(80))
    trope = _trope(["A trope."], [MediaSection("Literature", [Example(text, work="Book")])])
    passages = [p for p in Chunker(token_counter).chunk(trope) if p.kind == "example"]
    assert len(passages) > 1
    joined = " ".join(p.text for p in passages)
    assert joined.split() == text.split()  # every word kept, in order
    assert all(p.parent_id == passages[0].id for p in passages[1:])
    assert max(token_counter.count([p.embed_text for p in passages])) <= 256


def test_run_on_sentence_without_punctuation_is_windowed(token_counter):
    text = " ".join(["word"] * 900)
    trope = _trope([text])
    passages = Chunker(token_counter).chunk(trope)
    assert sum(len(p.text.split()) for p in passages) >= 900
    assert max(token_counter.count([p.embed_text for p in passages])) <= 256
