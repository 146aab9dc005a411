"""Rendered plain-text parser: the real seed page, link marks, inlined notes, examples, bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import BinaryInputError, EmptyPageError, MalformedPageError, ParseError
from indexer.formats.plaintext import parse_text
from indexer.page import Format, Page

SEEDS = Path(__file__).resolve().parent.parent / "data" / "sample" / "seeds"
PLAINTEXT_SEED = SEEDS / "001_d5d032353f865b22.txt"

FORBIDDEN = ("[[", "]]", "{{", "}}", "''", '["http', "<sup>", "&nbsp;", "</sup>")


def texts(page: Page):
    """Every text field of a page that is shown or embedded."""
    yield from page.description
    if page.quote is not None:
        yield page.quote
    for link in page.related:
        yield link.text
    for section in page.sections:
        yield section.media
        for root in section.examples:
            for _, ex in root.walk():
                yield ex.text
                if ex.work is not None:
                    yield ex.work


def assert_clean(page: Page) -> None:
    for text in texts(page):
        assert text == text.strip() and "  " not in text and "\u00a0" not in text, repr(text)
        for bad in FORBIDDEN:
            assert bad not in text, (bad, text)


def parse_one(text: str, source: str = "page.txt") -> Page:
    pages = parse_text(text, source)
    assert len(pages) == 1
    return pages[0]


@pytest.fixture(scope="module")
def seed() -> Page:
    return parse_one(PLAINTEXT_SEED.read_text(encoding="utf-8"), PLAINTEXT_SEED.name)


# -- the real seed page -------------------------------------------------------------------------

def test_seed_basics(seed):
    assert seed.format is Format.PLAINTEXT
    assert seed.source == PLAINTEXT_SEED.name
    assert seed.trope_id is None and seed.title is None  # the page never names itself
    assert seed.sections == [] and seed.quote is None


def test_seed_one_line_is_one_paragraph(seed):
    raw = [line for line in PLAINTEXT_SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(seed.description) == len(raw) == 6
    assert seed.description[0].startswith(
        "A romance, sexual or otherwise, between two different species. Sometimes they are Humanoid Aliens, or"
    )
    assert seed.description[-1].startswith("See also: Extreme Omnisexual, Boldly Coming, Bestiality Is Depraved,")


def test_seed_link_marks_are_removed_and_kept_as_links(seed):
    desc = " ".join(seed.description)
    assert "[" not in desc and "http" not in desc
    assert "this is the way to go about First Contact. Alien invaders" in desc
    by_target = {link.target: link.text for link in seed.related}
    assert by_target["HumanoidAliens"] == "Humanoid Aliens"
    assert by_target["FantasticRacism"] == "Fantastic Racism"
    assert by_target["OfficialCouple"] == "Official Couple"
    assert by_target["ExtremeOmnisexual"] == "Extreme Omnisexual"
    assert by_target["BoldlyComing"] == "First Contact"
    # the odd url glued to the site prefix is repaired
    assert "https://en.wikipedia.org/wiki/Species#Definition" in by_target


def test_seed_inlined_note_becomes_a_parenthetical(seed):
    para = seed.description[4]
    assert para.endswith(
        "both parties are members of the same species. (There are many different definitions of what a "
        "species is. The one used here is simply the most common one.)"
    )
    assert "species.note" not in para and "note " not in para


def test_seed_has_no_debris(seed):
    assert_clean(seed)


# -- synthetic pages ----------------------------------------------------------------------------

def test_several_notes_on_one_line():
    page = parse_one("He was pregnantnote\u00a0Well, sort of, and then left.note\u00a0Possibly twice. The end.\n")
    assert page.description == ["He was pregnant (Well, sort of, and then left.) (Possibly twice. The end.)"]


def test_note_after_plain_space_only_after_punctuation():
    page = parse_one("A keynote speech. Take note of this.note There is more.\n")
    assert page.description == ["A keynote speech. Take note of this. (There is more.)"]


def test_non_main_link_keeps_url_and_broken_mark_is_dropped():
    page = parse_one(
        'See Galaxy Quest ["https://tvtropes.org/pmwiki/pmwiki.php/Film/GalaxyQuest"] and ["https://broken\n'
    )
    assert page.description == ["See Galaxy Quest and"]
    assert page.related[0].target == "https://tvtropes.org/pmwiki/pmwiki.php/Film/GalaxyQuest"
    assert page.related[0].text == "Galaxy Quest"


def test_opening_quote():
    page = parse_one('"Seriously, come visit, aliens."\n\u2014 Some Website\nThe description.\n')
    assert page.quote == '"Seriously, come visit, aliens." \u2014 Some Website'
    assert page.description == ["The description."]


def test_examples_section_with_media_labels_and_bullets():
    text = (
        "A trope.\n"
        "Examples:\n"
        "open/close all folders\n"
        "Film\n"
        "- Galaxy Quest: Fred and the Thermian.\n"
        "    - Lampshaded early on.\n"
        "  Jason: Never give up.\n"
        "Live-Action TV\n"
        "- Star Trek does it a lot.note\u00a0Kirk, mostly.\n"
    )
    page = parse_one(text)
    assert page.description == ["A trope."]
    assert [s.media for s in page.sections] == ["Films", "Live-Action TV"]
    film = page.sections[0].examples
    assert film[0].text == "Galaxy Quest: Fred and the Thermian."
    assert film[0].line == 5
    assert film[0].children[0].text == "Lampshaded early on. Jason: Never give up."
    assert page.sections[1].examples[0].text == "Star Trek does it a lot. (Kirk, mostly.)"
    assert_clean(page)


def test_examples_without_bullet_marks_are_one_per_line():
    page = parse_one("A trope.\nExamples:\nOne example.\n Nested under it.\nAnother.\n")
    examples = page.sections[0].examples
    assert [e.text for e in examples] == ["One example.", "Another."]
    assert examples[0].children[0].text == "Nested under it."


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "  \n\n\t", "\u00a0\u00a0\n"])
def test_empty_input(text):
    with pytest.raises(EmptyPageError):
        parse_text(text, "empty.txt")


def test_only_link_marks_is_empty():
    with pytest.raises(EmptyPageError):
        parse_text('["https://tvtropes.org/pmwiki/pmwiki.php/Main/Foo"]\n', "x.txt")


def test_nul_bytes_are_binary():
    with pytest.raises(BinaryInputError):
        parse_text("a\x00b", "x.txt")


def test_bullets_nested_too_deep():
    text = "Intro.\nExamples:\n" + "\n".join("    " * n + f"- level {n + 1}" for n in range(20))
    with pytest.raises(MalformedPageError) as err:
        parse_text(text, "deep.txt")
    assert err.value.line == 13


def test_star_bullets_nested_too_deep_in_description():
    with pytest.raises(MalformedPageError) as err:
        parse_text("Intro.\n" + "*" * 20 + " deep\n", "deep.txt")
    assert err.value.line == 2


def test_five_megabyte_page_finishes():
    seed_text = PLAINTEXT_SEED.read_text(encoding="utf-8")
    text = (seed_text + "\n") * (5_000_000 // len(seed_text) + 1)
    start = time.perf_counter()
    page = parse_one(text)
    assert time.perf_counter() - start < 15
    assert len(page.description) > 8000


def test_huge_single_line_finishes():
    start = time.perf_counter()
    page = parse_one('Word ["http://x"] note\u00a0' * 100_000 + " " * 1_000_000 + "end")
    assert time.perf_counter() - start < 15
    assert len(page.description) == 1


# -- any text: pages or a ParseError, never debris ----------------------------------------------

FRAGMENTS = [
    '["http://x"]', '["https://tvtropes.org/pmwiki/pmwiki.php/Main/FooBar"]', '["https://a.orghttps://b.org/c"]',
    '["', '"]', "note\u00a0", "note ", ".", "\u00a0", "\n", "Examples:", "Film", "Anime and Manga", "- ", "* ",
    "    ", "\t", "1. ", '"', "\u2014", "[[", "]]", "{{", "}}", "''", "<sup>", "&nbsp;", " ", "A",
    "open/close all folders",
]

page_texts = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page_texts)
def test_any_text_parses_or_raises_parse_error(text):
    try:
        pages = parse_text(text, "fuzz.txt")
    except ParseError:
        return
    assert len(pages) == 1
    page = pages[0]
    assert page.format is Format.PLAINTEXT and page.source == "fuzz.txt"
    assert page.description or page.example_count()
    assert_clean(page)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_parses_or_raises_parse_error(text):
    try:
        pages = parse_text(text, "fuzz.txt")
    except ParseError:
        return
    assert_clean(pages[0])
