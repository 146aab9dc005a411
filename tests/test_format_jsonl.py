"""The JSON Lines parser: real records (data/sample/tropes.jsonl), bad lines, any input."""

from __future__ import annotations

import io
import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.errors import EmptyPageError, MalformedPageError, ParseError
from indexer.formats.jsonl import iter_pages, parse_text
from indexer.media import normalize_media
from indexer.page import Format, Page
from indexer.wikiwords import title_from_id

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "tropes.jsonl"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "tropes.jsonl"
DEBRIS_RE = re.compile(
    r"<(?:a|p|div|span|sup|em|br|li|ul|strong|b|i)\b|&nbsp;|&amp;|&quot;|\[\[|\]\]|\{\{|\}\}|''|\u00a0|note\u00a0|  "
)


def sample_lines() -> list[str]:
    return SAMPLE.read_bytes().decode("utf-8", "replace").split("\n")


def records() -> list[dict]:
    return [json.loads(line) for line in sample_lines() if line.strip()]


def unmojibake(s: str) -> str:
    """C1 control characters stand for the cp1252 characters they were ("\x96" is "–")."""
    return "".join(bytes([ord(c)]).decode("cp1252", "ignore") if "\x80" <= c <= "\x9f" else c for c in s)


def text_fields(page: Page):
    yield page.title
    yield from page.description
    for section in page.sections:
        yield section.media
        for example in section.examples:
            yield example.text
            yield example.work


def record(**fields) -> str:
    base = {"trope_id": "ChekhovsGun", "description": "A gun on the wall."}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


# --- real records ----------------------------------------------------------------------------


def test_sample_file_gives_one_page_per_record():
    pages = parse_text("\n".join(sample_lines()), str(SAMPLE))
    recs = records()
    assert len(pages) == len(recs) == 16
    for line_no, (page, rec) in enumerate(zip(pages, recs), 1):
        assert page.trope_id == rec["trope_id"]
        assert page.source == f"{SAMPLE}:{line_no}"
        assert page.format is Format.JSONL
        assert page.url == rec["url"]
        assert page.title == (rec.get("title") or title_from_id(rec["trope_id"]))
        assert page.description


def test_missing_title_is_derived_from_the_id():
    pages = {p.trope_id: p for p in parse_text("\n".join(sample_lines()), "t.jsonl")}
    assert "title" not in records()[1]
    assert pages["ADarkerShadeOfGrey"].title == "A Darker Shade of Grey"
    assert pages["AChildShallLEadThem"].title == "A Child Shall Lead Them"  # given, not derived
    [page] = parse_text(record(trope_id="ABeautifulMindScreen", title="", url=None), "t.jsonl")
    assert (page.title, page.url) == ("A Beautiful Mind Screen", None)
    [page] = parse_text(record(url=...), "t.jsonl")
    assert page.url is None and page.title == "Chekhovs Gun"
    [page] = parse_text(record(title=7, url=["x"]), "t.jsonl")  # wrong types count as missing
    assert page.url is None and page.title == "Chekhovs Gun"


def test_description_paragraphs_split_on_blank_lines():
    pages = parse_text("\n".join(sample_lines()), "t.jsonl")
    for page, rec in zip(pages, records()):
        if "\u2022" in rec["description"] or "note\u00a0" in rec["description"]:
            continue
        blocks = [unmojibake(" ".join(b.split())) for b in re.split(r"\n\s*\n", rec["description"]) if b.strip()]
        quoted = len(blocks) - len(page.description)  # an opening quote moves to page.quote
        assert page.description == blocks[quoted:]
        assert (page.quote is None) == (quoted == 0)


def test_examples_grouped_by_normalized_media():
    pages = {p.trope_id: p for p in parse_text("\n".join(sample_lines()), "t.jsonl")}
    for rec in records():
        if not rec.get("examples"):
            assert not pages[rec["trope_id"]].sections
            continue
        expected = Counter(normalize_media(e["media"]) for e in rec["examples"])
        got = {s.media: len(s.examples) for s in pages[rec["trope_id"]].sections}
        assert got == dict(expected)
    page = pages["AbledInTheAdaptation"]
    assert [s.media for s in page.sections] == ["Films", "Anime & Manga", "Video Games"]
    first = page.section("Films").examples[0]
    assert first.work == "Goodfellas" and first.text.startswith("In real life, Henry Hill had learning disabilities")
    assert first.line == 7 and not first.children


def test_media_spellings_are_normalized():
    line = record(
        examples=[
            {"media": "VideoGame", "work": "Mega Man", "text": "Mega Man has one."},
            {"media": "Anime", "work": "Cobra", "text": "Cobra has the Psychogun."},
            {"media": "LiveActionTV", "work": None, "text": "A show."},
            {"media": "", "work": "", "text": "Somewhere."},
        ]
    )
    [page] = parse_text(line, "t.jsonl")
    assert [(s.media, [(e.work, e.text) for e in s.examples]) for s in page.sections] == [
        ("Video Games", [("Mega Man", "Mega Man has one.")]),
        ("Anime & Manga", [("Cobra", "Cobra has the Psychogun.")]),
        ("Live-Action TV", [(None, "A show.")]),
        ("Other", [(None, "Somewhere.")]),
    ]


def test_text_is_cleaned():
    desc = (
        "First  paragraph,\n spread\u00a0over lines.\n\n\n"
        "Mothers note\u00a0the flipside is rare &amp; sad. Drummer [[Lead Drummer/Tommy Lee]] and ''italics''.\n"
        "\u2022 A bullet line.\n\u2022 Another one.\n \n"
    )
    [page] = parse_text(record(description=desc), "t.jsonl")
    assert page.description == [
        "First paragraph, spread over lines.",
        "Mothers the flipside is rare & sad. Drummer Lead Drummer/Tommy Lee and italics.",
        "A bullet line.",
        "Another one.",
    ]


def test_no_debris_in_sample_text_fields():
    for page in parse_text("\n".join(sample_lines()), "t.jsonl"):
        for value in text_fields(page):
            assert value is None or (value and value == value.strip() and not DEBRIS_RE.search(value)), value


def test_line_separators_inside_a_record_do_not_split_it():
    line = json.dumps({"trope_id": "X", "description": "One\u2028two\u2029three\x1c.\r"}, ensure_ascii=False)
    assert "\u2028" in line
    pages = parse_text(line + "\r\n" + record(trope_id="Other") + "\n", "t.jsonl")
    assert [p.source for p in pages] == ["t.jsonl:1", "t.jsonl:2"]
    assert pages[0].description == ["One two three ."]


# --- bad lines -----------------------------------------------------------------------------


def test_bad_line_in_the_middle_is_reported_with_its_number_and_the_rest_parse(caplog):
    lines = sample_lines()
    lines.insert(5, '{"trope_id": "Broken", "description": ')
    items = list(iter_pages(lines, "t.jsonl"))
    errors = [i for i in items if isinstance(i, ParseError)]
    pages = [i for i in items if isinstance(i, Page)]
    assert len(pages) == 16 and len(errors) == 1
    assert isinstance(errors[0], MalformedPageError) and errors[0].line == 6 and "t.jsonl:6" in str(errors[0])
    assert items.index(errors[0]) == 5
    assert [p.source for p in pages][4:6] == ["t.jsonl:5", "t.jsonl:7"]
    with caplog.at_level(logging.WARNING, logger="indexer.formats.jsonl"):
        assert len(parse_text("\n".join(lines), "t.jsonl")) == 16
    assert any("t.jsonl:6" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "line,reason",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "not an object"),
        ('"a string"', "not an object"),
        ('{"description": "No id."}', "trope_id"),
        ('{"trope_id": "  ", "description": "Blank id."}', "trope_id"),
        ('{"trope_id": 42, "description": "Numeric id."}', "trope_id"),
        ('{"trope_id": "NoDescription"}', "description"),
        ('{"trope_id": "X", "description": ["a list"]}', "description"),
        ('{"trope_id": "X", "description": "d", "examples": "not a list"}', "examples"),
        ("[" * 100_000, "JSON"),
        ('{"trope_id": "X", "description": "d", "title": 1' + "0" * 5000 + "}", "JSON"),
    ],
)
def test_bad_record_is_a_parse_error_naming_its_line(line, reason):
    lines = [record(), "", line, record(trope_id="Fine")]
    items = list(iter_pages(lines, "t.jsonl"))
    assert [type(i).__name__ for i in items][0::2] == ["Page", "Page"]
    err = items[1]
    assert isinstance(err, ParseError) and err.line == 3 and reason in str(err)
    with pytest.raises(ParseError, match=re.escape(reason)):
        parse_text(line, "t.jsonl")


def test_record_without_any_text_is_empty():
    with pytest.raises(EmptyPageError):
        parse_text(record(description=" \n\n "), "t.jsonl")
    [page] = parse_text(record(description="", examples=[{"media": "Film", "work": "W", "text": "T."}]), "t.jsonl")
    assert not page.description and page.example_count() == 1


@pytest.mark.parametrize("text", ["", "\n\n", "   \n \t\n"])
def test_empty_text(text):
    with pytest.raises(EmptyPageError):
        parse_text(text, "t.jsonl")


def test_all_lines_bad_raises_the_first_error():
    with pytest.raises(MalformedPageError) as err:
        parse_text("\n{oops\n[]\n", "t.jsonl")
    assert err.value.line == 2


def test_streams_from_a_file_object_and_bytes():
    data = SAMPLE.read_bytes()
    from_file = list(iter_pages(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"), "f.jsonl"))
    from_bytes = list(iter_pages(data.split(b"\n"), "f.jsonl"))
    assert [p.trope_id for p in from_file] == [p.trope_id for p in from_bytes] == [r["trope_id"] for r in records()]
    assert from_file[-1].source == "f.jsonl:16"


# --- any input ------------------------------------------------------------------------------

json_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
good_record = st.fixed_dictionaries(
    {"trope_id": st.from_regex(r"[A-Z][a-z]+[A-Z][a-z]+", fullmatch=True), "description": json_text},
    optional={
        "title": st.one_of(st.none(), json_text),
        "url": st.one_of(st.none(), json_text),
        "examples": st.lists(
            st.fixed_dictionaries(
                {"media": st.one_of(st.none(), json_text, st.sampled_from(["Film", "VideoGame", "Anime"])),
                 "work": st.one_of(st.none(), json_text), "text": json_text}
            ),
            max_size=4,
        ),
    },
).map(json.dumps)
line = st.one_of(good_record, json_text, st.sampled_from(["", "{", "[]", "null", "{}", '{"trope_id": "A"}']))


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(line, max_size=12))
def test_any_lines_give_one_page_or_error_per_nonblank_line(lines):
    lines = [ln.replace("\n", " ").replace("\r", " ") for ln in lines]
    items = list(iter_pages(lines, "h.jsonl"))
    numbered = [n for n, ln in enumerate(lines, 1) if ln.strip()]
    assert len(items) == len(numbered)
    for n, item in zip(numbered, items):
        if isinstance(item, Page):
            assert item.source == f"h.jsonl:{n}" and item.trope_id
            for value in text_fields(item):
                assert value is None or (value == value.strip() and "  " not in value)
        else:
            assert isinstance(item, ParseError) and item.line == n
    try:
        pages = parse_text("\n".join(lines), "h.jsonl")
    except ParseError:
        assert not any(isinstance(i, Page) for i in items)
    else:
        assert pages == [i for i in items if isinstance(i, Page)]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_gives_pages_or_a_parse_error(text):
    try:
        pages = parse_text(text, "t.jsonl")
    except ParseError:
        return
    assert pages and all(isinstance(p, Page) for p in pages)


# --- the full corpus (skipped where /work/shared is not mounted) -------------------------


@pytest.mark.skipif(not CORPUS.is_file(), reason="no shared corpus here")
def test_whole_jsonl_corpus_parses_without_errors():
    with open(CORPUS, encoding="utf-8", errors="replace") as fh:
        items = list(iter_pages(fh, str(CORPUS)))
    errors = [i for i in items if isinstance(i, ParseError)]
    assert not errors, errors[:3]
    assert len(items) >= 4000
    with_examples = [p for p in items if p.sections]
    assert 80 <= len(with_examples) <= 120
    assert {s.media for p in with_examples for s in p.sections} <= {"Films", "Video Games", "Anime & Manga"}
    for page in items:
        assert page.title and page.description
        for value in text_fields(page):
            assert value is None or not DEBRIS_RE.search(value), (page.source, value[:200])


def test_opening_quote_and_dialogue_become_the_page_quote():
    from indexer.formats.jsonl import parse_record

    record = {
        "trope_id": "LameComeback",
        "description": "Jesus Quintana: You ready to be beaten, man?\n\nThe Dude: Yeah, well, that's just, like, your "
                       "opinion, man.\n\nIn a situation where the usual tropes call for a clever rejoinder, the "
                       "character fumbles.\n\nSee also Stock Comeback.",
    }
    page = parse_record(json.dumps(record), "t.jsonl", 1)
    assert page.quote.startswith("Jesus Quintana: You ready") and "like, your opinion" in page.quote
    assert page.description[0].startswith("In a situation where")
    quoted = {"trope_id": "KingInCognito", "description": '"You mean he was the son of the emperor?"\n\n'
                                                          "The heroes run into a seemingly unimportant person."}
    page = parse_record(json.dumps(quoted), "t.jsonl", 2)
    assert page.quote == '"You mean he was the son of the emperor?"'
    assert page.description == ["The heroes run into a seemingly unimportant person."]
    only_quote = {"trope_id": "Q", "description": '"Just a quote, nothing else."'}
    assert parse_record(json.dumps(only_quote), "t.jsonl", 3).quote is None  # never leaves no description
