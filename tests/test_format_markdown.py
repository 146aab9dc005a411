"""Rendered markdown parser: the real seed page (folders, nesting, dialogue, notes), bad input."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import BinaryInputError, EmptyPageError, MalformedPageError, ParseError
from indexer.formats.markdown import parse_text
from indexer.media import normalize_media
from indexer.page import Example, Format, Page

SEEDS = Path(__file__).resolve().parent.parent / "data" / "sample" / "seeds"
MARKDOWN_SEED = SEEDS / "002_757896695408fafc.txt"

FORBIDDEN = ("[[", "]]", "{{", "}}", "''", '["http', "<sup>", "&nbsp;", "</sup>")


def texts(page: Page):
    """Every text field of a page that is shown or embedded."""
    yield from page.description
    if page.quote is not None:
        yield page.quote
    if page.title is not None:
        yield page.title
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


def parse_one(text: str, source: str = "page.md") -> Page:
    pages = parse_text(text, source)
    assert len(pages) == 1
    return pages[0]


def find(examples: list[Example], prefix: str) -> Example:
    for root in examples:
        for _, ex in root.walk():
            if ex.text.startswith(prefix):
                return ex
    raise AssertionError(f"no example starts with {prefix!r}")


@pytest.fixture(scope="module")
def raw() -> str:
    return MARKDOWN_SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed(raw) -> Page:
    return parse_one(raw, MARKDOWN_SEED.name)


def raw_bullet_counts(raw: str) -> dict[str, Counter]:
    """Independently of the parser: `-   ` bullets per folder label and indentation level."""
    counts: dict[str, Counter] = {}
    label = None
    for line in raw.split("\n"):
        if line.startswith("\u00a0") and "open/close all folders" not in line:
            label = line.strip("\u00a0 ")
            counts[label] = Counter()
            continue
        m = re.match(r"^( *)-   \S", line)
        if m and label is not None:
            counts[label][len(m.group(1)) // 4] += 1
    return counts


# -- the real seed page -------------------------------------------------------------------------

def test_seed_basics(seed):
    assert seed.format is Format.MARKDOWN
    assert seed.source == MARKDOWN_SEED.name
    assert seed.trope_id is None and seed.title is None  # the manifest says BoldlyComing


def test_seed_quote(seed):
    assert seed.quote.startswith('"Humans are disgusting. We\'ll have sex with anything.')
    assert seed.quote.endswith('Seriously, come visit, aliens. See what happens."')


def test_seed_description(seed):
    assert len(seed.description) == 3
    assert seed.description[0].startswith(
        "The Captain Kirk approach to First Contact; namely, to have sex with a Green-Skinned Space Babe."
    )
    assert seed.description[0].endswith("humans will find a way.")
    assert seed.description[2] == (
        "In the event that humanity ever encounters sapient extraterrestrial life, No Real Life Examples, Please!"
    )
    assert not any("note" in p.split() or "Examples:" in p for p in seed.description)


def test_seed_example_counts_per_folder_match_the_raw_file(seed, raw):
    expected = raw_bullet_counts(raw)
    assert len(expected) == 13
    assert [s.media for s in seed.sections] == [normalize_media(label) for label in expected]
    for section, (label, by_depth) in zip(seed.sections, expected.items()):
        got = Counter(depth for root in section.examples for depth, _ in root.walk())
        assert got == by_depth, label
    assert seed.example_count() == sum(sum(c.values()) for c in expected.values()) == 217


def test_seed_known_folder_sizes(seed):
    sizes = {s.media: sum(1 for r in s.examples for _ in r.walk()) for s in seed.sections}
    by_label = {
        "Anime and Manga": 1, "Comic Books": 13, "Fan Works": 14, "Films \u2014 Live-Action": 19, "Literature": 29,
        "Live-Action TV": 62, "Music": 7, "Pinballs": 1, "Tabletop Games": 4, "Video Games": 36,
        "Webcomics": 9, "Web Original": 4, "Western Animation": 18,
    }
    assert sizes == {normalize_media(label): n for label, n in by_label.items()}


def test_seed_x_men_bullet(seed):
    comics = seed.section("Comic Books").examples
    xmen = next(ex for ex in comics if ex.work == "X-Men")
    assert xmen.text == "X-Men:"
    assert xmen.line == 22
    assert len(xmen.children) == 2
    assert xmen.children[0].text.startswith("Professor X falls in love with Shi'ar Empress Lilandra")
    assert comics[0].text == "The XXXenophile series is full of these."
    assert comics[0].work is None  # "The _XXXenophile_ series": no leading title


def test_seed_works(seed):
    films = seed.section("Live-Action Films").examples
    gq = films[0]
    assert gq.work == "Galaxy Quest" and len(gq.children) == 3
    assert find(films, "In Guardians of the Galaxy Vol. 2").work is None  # "In _Work_," is not guessed
    assert find(seed.section("Comic Books").examples, "Empowered:").work == "Empowered"
    tv = seed.section("Live-Action TV").examples
    assert tv[0].work == "Star Trek" and len(tv[0].children) == 5
    assert find(seed.section("Western Animation").examples, "Rick and Morty").work == "Rick and Morty"
    assert find(tv, "Smallville. Technically").work == "Smallville"


def test_seed_three_levels_deep(seed):
    tv = seed.section("Live-Action TV").examples
    tng = find(tv, "In Star Trek: The Next Generation, this practically")
    assert len(tng.children) == 4
    assert max(depth for root in tv for depth, _ in root.walk()) == 2  # three levels: 0, 1, 2


def test_seed_dialogue_belongs_to_its_example(seed):
    fan = seed.section("Fan Works").examples
    changed = find(fan, "A Changed World has Kanril Eleya")
    assert changed.text.endswith(
        "(Reshek Gaarra, Bajoran, nearly falls over laughing.) Birail Riyannis: I'm ... missing something funny. "
        "Wait, is banta fever\u2014 Eleya: An STD? Yes it is. (Biri starts giggling.)"
    )
    tv = seed.section("Live-Action TV").examples
    first_contact = find(tv, 'In the episode "First Contact"')
    assert first_contact.text.endswith("intended as a parody of Trek fandom. Riker: The things I do for Starfleet.")
    theme = find(tv, "From the rarely-heard lyrics")
    assert theme.text == (
        "From the rarely-heard lyrics to the original Star Trek theme: Beyond the brim of the star light, "
        "My love is wandering in star flight. I know he'll find in star-clustered reaches, Love, strange love "
        "a star-woman teaches."
    )


def test_seed_escapes_italics_and_stray_pmwiki_quotes(seed):
    games = seed.section("Video Games").examples
    assert find(games, "Yeoman Kelly Chambers").text.endswith("Kelly: [...]intimacy brings understanding.")
    assert find(seed.section("Webcomics").examples, "In Loon Land").text.startswith(
        "In Loon Land the alien Lana Loon lands on earth and has a close (failed sexual) encounter with the "
        "terrestrial loon Mike Moon [1]. Mike: Hang on!"
    )
    star_wars = find(seed.section("Fan Works").examples, "Non-consensual")
    assert "Star Wars fic Important Information. Han Solo" in star_wars.text
    assert find(seed.section("Live-Action TV").examples, "Hyperdrive").text.count("Alien Sex Disease") == 1


def test_seed_note_marks_are_removed_cleanly(seed):
    films = seed.section("Live-Action Films").examples
    assert find(films, "The sequel, Into Darkness").text.endswith("twins. What a stud.")
    moore = find(seed.section("Comic Books").examples, "Alan Moore did")
    assert "for Omega Men. In short: a blue-skinned space babe" in moore.text
    trek = find(seed.section("Live-Action TV").examples, "Averted by Star Trek: The Original Series")
    assert "his wife became pregnant, and once the show returned" in trek.text
    b5 = find(seed.section("Live-Action TV").examples, "The one who was Boldly Coming was G'Kar")
    assert "more or less incompatible, he apparently" in b5.text


def test_seed_has_no_debris(seed):
    assert_clean(seed)
    for text in texts(seed):
        assert "note\u00a0" not in text and "note " not in text and "\\" not in text and "_" not in text, text


# -- synthetic pages ----------------------------------------------------------------------------

def test_title_heading_links_and_blockquote_quote():
    page = parse_one(
        "# Boldly Coming\n\n> Seriously, come visit.\n\n\u2014 Somebody\n\n"
        "A [First Contact](https://tvtropes.org/pmwiki/pmwiki.php/Main/FirstContact) trope with *emphasis*.\n\n"
        "## Examples:\n\n### Film\n\n-   _Galaxy Quest_ (1999): the Thermians.\n"
    )
    assert page.title == "Boldly Coming" and page.trope_id == "BoldlyComing"
    assert page.quote == "Seriously, come visit. \u2014 Somebody"
    assert page.description == ["A First Contact trope with emphasis."]
    assert page.related[0].text == "First Contact" and page.related[0].target == "FirstContact"
    assert page.sections[0].media == "Films"
    assert page.sections[0].examples[0].text == "Galaxy Quest (1999): the Thermians."


def test_bullets_before_any_label_go_to_other():
    page = parse_one("Text.\n\n## Examples:\n\n-   One.\n    -   Two.\n")
    assert page.sections[0].media == "Other"
    assert page.sections[0].examples[0].children[0].text == "Two."


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", " \n\n ", "\u00a0\u00a0\u00a0\u00a0\n"])
def test_empty_input(text):
    with pytest.raises(EmptyPageError):
        parse_text(text, "empty.md")


def test_only_structure_is_empty():
    with pytest.raises(EmptyPageError):
        parse_text("___\n\n## Examples:\n\n\u00a0\u00a0\u00a0\u00a0open/close all folders\u00a0\n\n___\n", "x.md")


def test_nul_bytes_are_binary():
    with pytest.raises(BinaryInputError):
        parse_text("a\x00b", "x.md")


@pytest.mark.parametrize("header", ["Intro.\n\n## Examples:\n\n", "Intro.\n\n"])
def test_bullets_nested_too_deep(header):
    text = header + "\n".join("    " * n + f"-   level {n + 1}" for n in range(20))
    with pytest.raises(MalformedPageError) as err:
        parse_text(text, "deep.md")
    assert err.value.line == header.count("\n") + 11


def test_five_megabyte_page_finishes(raw):
    head, _, rest = raw.partition("## Examples:")
    body = rest.rsplit("___", 1)[0]
    text = head + "## Examples:" + body * (5_000_000 // len(body) + 1)
    start = time.perf_counter()
    page = parse_one(text)
    assert time.perf_counter() - start < 15
    assert page.example_count() > 16000


def test_huge_single_line_finishes():
    start = time.perf_counter()
    page = parse_one("_a " * 500_000 + "\\_" * 500_000 + " " * 1_000_000 + "<sup>note&nbsp;</sup>" * 10_000 + "end")
    assert time.perf_counter() - start < 15
    assert len(page.description) == 1


# -- any text: pages or a ParseError, never debris ----------------------------------------------

FRAGMENTS = [
    "-   ", "    -   ", "        -   ", "\u00a0\u00a0\u00a0\u00a0", "Film\u00a0", "<sup>note&nbsp;</sup>", "\u00a0",
    "_", "*", "**", "\\[", "\\]", "\\_", "\\*", "\\", "[", "](", ")", "## Examples:", "# ", "___", "> ", "\n",
    "\n\n", '"', "\u2014", "open/close all folders", "<b>", "</b>", "<sup>", "&nbsp;", "&amp;", "[[", "]]", "{{",
    "}}", "''", '["http://x"]', "`", "~~", "note", " ", "A", "1. ",
]

page_texts = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page_texts)
def test_any_text_parses_or_raises_parse_error(text):
    try:
        pages = parse_text(text, "fuzz.md")
    except ParseError:
        return
    assert len(pages) == 1
    page = pages[0]
    assert page.format is Format.MARKDOWN and page.source == "fuzz.md"
    assert page.description or page.example_count()
    assert_clean(page)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_parses_or_raises_parse_error(text):
    try:
        pages = parse_text(text, "fuzz.md")
    except ParseError:
        return
    assert_clean(pages[0])
