"""PmWiki source parser: the real seed page, a synthetic page with every construct, bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import BinaryInputError, EmptyPageError, MalformedPageError, ParseError
from indexer.formats.pmwiki import parse_text
from indexer.page import Format, Page

SEEDS = Path(__file__).resolve().parent.parent / "data" / "sample" / "seeds"
PMWIKI_SEED = SEEDS / "000_7b236ed267aafff7.txt"
PLAINTEXT_SEED = SEEDS / "001_d5d032353f865b22.txt"

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


def parse_one(text: str, source: str = "page.txt") -> Page:
    pages = parse_text(text, source)
    assert len(pages) == 1
    return pages[0]


@pytest.fixture(scope="module")
def seed() -> Page:
    return parse_one(PMWIKI_SEED.read_text(encoding="utf-8"), PMWIKI_SEED.name)


# -- the real seed page -------------------------------------------------------------------------

def test_seed_names_its_trope_from_the_subpage_list(seed):
    assert seed.format is Format.PMWIKI
    assert seed.source == PMWIKI_SEED.name
    assert seed.trope_id == "InterspeciesRomance"
    assert seed.title == "Interspecies Romance"
    assert len(seed.subpages) >= 19
    assert {"AnimeAndManga", "Film", "Advertising", "DungeonsAndDragons", "WesternAnimation"} <= set(seed.subpages)


def test_seed_subpage_list_is_neither_description_nor_examples(seed):
    assert seed.sections == []
    assert seed.example_count() == 0
    assert not any("InterspeciesRomance" in p or "Anime And Manga" in p for p in seed.description)


def test_seed_description_matches_the_plaintext_rendering(seed):
    plain = [line for line in PLAINTEXT_SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(seed.description) == 6
    first = "A romance, sexual or otherwise, between two different species."
    assert seed.description[0].startswith(first)
    assert plain[0].startswith(first)
    same = "The type of species can diverge greatly, so long as they are different."
    assert same in seed.description[0] and same in plain[0]
    assert seed.description[3].startswith("For some this is the way to go about First Contact.")
    assert seed.description[5].startswith("See also: Extreme Omnisexual;")


def test_seed_wikiwords_braces_and_links_become_words(seed):
    desc = " ".join(seed.description)
    assert "a Green Skinned Space Babe is involved" in desc
    assert "two Funny Animals, or a Beast And Beauty couple" in desc
    assert "In less realistic settings, can easily result in Half Human Hybrids or Hybrid Monsters." in desc
    assert "if there are no humans involved" in desc
    assert "more likely to be...um...NSFW." in desc


def test_seed_related_links(seed):
    by_target = {link.target: link.text for link in seed.related}
    assert by_target["GreenSkinnedSpaceBabe"] == "Green Skinned Space Babe"
    assert by_target["MohsScaleOfScienceFictionHardness"] == "less realistic"
    assert by_target["FunnyAnimal"] == "Funny Animals"
    assert by_target["BoldlyComing"] == "the way to go about First Contact"
    assert by_target["InterspeciesFriendship"] == "Interspecies Friendship"
    assert len(by_target) == len(seed.related)  # one link per target


def test_seed_has_no_markup_debris(seed):
    assert_clean(seed)
    assert seed.quote is None


# -- a synthetic page with every construct ------------------------------------------------------

FULL_PAGE = """\
[[quoteright:350:[[Film/GalaxyQuest https://static.tvtropes.org/pmwiki/pub/images/gq.jpg]]]]
[[caption-width-right:350:Never give up, never surrender.]]
->''"Humans are disgusting."''
-->-- '''Somebody''', ''Website/{{Cracked}}''

The CaptainKirk approach[[note]]Though Kirk's reputation is overstated; see ''Franchise/StarTrek''.[[/note]] to \
[[FirstContact first contact]]. [[spoiler:The AlienQueen dies]], and he gets a [[labelnote:why]]reward[[/labelnote]].
A second line of the [=SameParagraph=] with {{Squick}}.

!!Examples:
[[foldercontrol]]

[[folder:Film]]
* ''Film/GalaxyQuest'':
** Played for laughs.
*** Even deeper.
** Another one[[note]]quietly[[/note]], really.
* ''[[Film/StarTrek2009 Star Trek]]'': Kirk does it.
* ''Galaxy Quest'': again.
* In ''Film/{{Avatar}}'', Jake does.
->'''Jake:''' I see you.
[[/folder]]

[[folder:Live Action TV]]
* Series/DoctorWho: The Doctor, mostly.
[[quoteblock]]
'''Jack:''' Hello.
[[/quoteblock]]
[[/folder]]
"""


@pytest.fixture(scope="module")
def full() -> Page:
    return parse_one(FULL_PAGE)


def test_opening_quote_goes_to_page_quote(full):
    assert full.quote == '"Humans are disgusting." -- Somebody, Cracked'


def test_description_notes_spoilers_and_links(full):
    assert full.description == [
        "The Captain Kirk approach (Though Kirk's reputation is overstated; see Star Trek.) to first contact. "
        "The Alien Queen dies, and he gets a (reward). A second line of the SameParagraph with Squick."
    ]
    targets = {link.target: link.text for link in full.related}
    assert targets["FirstContact"] == "first contact"
    assert targets["Franchise/StarTrek"] == "Star Trek"
    assert targets["CaptainKirk"] == "Captain Kirk"
    assert targets["AlienQueen"] == "Alien Queen"  # inside the spoiler
    assert targets["Squick"] == "Squick"
    assert targets["Website/Cracked"] == "Cracked"  # from the quote
    assert "SameParagraph" not in targets  # [=escaped=]


def test_folders_become_media_sections(full):
    assert [s.media for s in full.sections] == ["Films", "Live-Action TV"]
    film = full.sections[0].examples
    assert [ex.work for ex in film] == ["Galaxy Quest", "Star Trek", "Galaxy Quest", None]
    assert [ex.line for ex in film] == [13, 17, 18, 19]
    gq = film[0]
    assert gq.text == "Galaxy Quest:"
    assert [c.text for c in gq.children] == ["Played for laughs.", "Another one (quietly), really."]
    assert gq.children[0].children[0].text == "Even deeper."
    assert gq.children[0].children[0].line == 15
    assert film[1].text == "Star Trek: Kirk does it."
    assert film[3].text == "In Avatar, Jake does. Jake: I see you."
    tv = full.sections[1].examples
    assert tv[0].work == "Doctor Who"
    assert tv[0].text == "Doctor Who: The Doctor, mostly. Jack: Hello."
    assert full.example_count() == 8


def test_full_page_has_no_debris(full):
    assert_clean(full)


def test_examples_without_folders_and_subpages_under_header():
    page = parse_one(
        "Some trope text.\n\n!!Examples:\n* SomeTrope/AnimeAndManga\n* [[SomeTrope/Film Films]]\n"
        "* ''Film/Foo'': bar\n* Batman/Superman fans argue.\n"
    )
    assert page.trope_id == "SomeTrope" and page.title == "Some Trope"
    assert page.subpages == ["AnimeAndManga", "Film"]
    assert page.sections[0].media == "Other"
    assert [e.text for e in page.sections[0].examples] == ["Foo: bar", "Batman/Superman fans argue."]


def test_page_with_only_examples_is_fine():
    page = parse_one("[[folder:Anime & Manga]]\n* Something happens.\n[[/folder]]\n")
    assert page.description == []
    assert page.sections[0].media == "Anime & Manga"


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   \n\t\n  ", "\u00a0\n"])
def test_empty_input(text):
    with pytest.raises(EmptyPageError):
        parse_text(text, "empty.txt")


def test_page_with_only_layout_is_empty():
    with pytest.raises(EmptyPageError):
        parse_text("[[quoteright:350:[[Film/Foo https://x/y.jpg]]]]\n->''Just a quote.''\n----\n", "q.txt")


def test_nul_bytes_are_binary():
    with pytest.raises(BinaryInputError):
        parse_text("text\x00more", "bin.txt")


def test_bullets_nested_too_deep():
    text = "Intro.\n\n!!Examples:\n" + "\n".join("*" * n + f" level {n}" for n in range(1, 21))
    with pytest.raises(MalformedPageError) as err:
        parse_text(text, "deep.txt")
    assert err.value.line == 14  # the 11-star bullet
    assert "deep.txt:14" in str(err.value)


def test_unterminated_link():
    with pytest.raises(MalformedPageError) as err:
        parse_text("Fine paragraph.\n\nA [[BrokenLink that never\ncloses in this paragraph.\n\nNext ]] one.", "x.txt")
    assert err.value.line == 3


def test_unterminated_folder():
    with pytest.raises(MalformedPageError) as err:
        parse_text("Text.\n\n[[folder:Film]]\n* An example.\n", "x.txt")
    assert err.value.line == 3


def test_folder_opened_inside_a_folder():
    with pytest.raises(MalformedPageError) as err:
        parse_text("Text.\n\n[[folder:Film]]\n* A.\n[[folder:Music]]\n* B.\n[[/folder]]\n", "x.txt")
    assert err.value.line == 3


def test_unterminated_note():
    with pytest.raises(MalformedPageError) as err:
        parse_text("Text.\n\n!!Examples:\n* A bullet[[note]]with a note that never ends.\n", "x.txt")
    assert err.value.line == 4


def test_unterminated_quoteblock():
    with pytest.raises(MalformedPageError):
        parse_text("Text.\n[[quoteblock]]\nSomeone said this.\n", "x.txt")


def test_five_megabyte_page_finishes():
    seed_text = PMWIKI_SEED.read_text(encoding="utf-8")
    examples = "".join(
        f"* ''Film/Work{i}'': A GreenSkinnedSpaceBabe[[note]]a ''note''[[/note]] meets {{{{Funny Animal}}}}s.\n"
        f"** [[spoiler:It ends]] with [[Series/FooBar a wedding]].\n"
        for i in range(20000)
    )
    text = seed_text + "\n\n!!Examples:\n[[folder:Film]]\n" + examples + "[[/folder]]\n"
    text = text + ("\n" + seed_text) * ((5_000_000 - len(text)) // len(seed_text) + 1)
    assert len(text) >= 5_000_000
    start = time.perf_counter()
    page = parse_one(text)
    assert time.perf_counter() - start < 15
    assert page.example_count() == 40000
    assert page.sections[0].examples[7].work == "Work 7"


def test_huge_single_line_finishes():
    start = time.perf_counter()
    page = parse_one("Ab1 " * 1_000_000 + "[[Foo bar]] " * 10_000)
    assert time.perf_counter() - start < 15
    assert len(page.description) == 1


# -- any text: pages or a ParseError, never debris ----------------------------------------------

FRAGMENTS = [
    "[[", "]]", "{{", "}}", "''", "'''", "* ", "** ", "*** ", "-   ", "\u00a0", "<sup>note&nbsp;</sup>",
    '["http://x"]', "[[note]]", "[[/note]]", "[[folder:Film]]", "[[/folder]]", "[[quoteblock]]",
    "[[/quoteblock]]", "[[spoiler:", "->", "-->", "!!Examples:", "!!!", "\n", "\n\n", "FooBar", "Film/Foo",
    "Trope/{{Film}}", "[=", "=]", "[[labelnote:x]]", "[[/labelnote]]", "[[AC:Film]]", "%%", "----", "&nbsp;",
    "&amp;", "note", " ", "[-", "-]", "|", "[[http://x.y z]]", "[[caption-width-right:1:", "\\\\", "\r\n",
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
    assert page.format is Format.PMWIKI and page.source == "fuzz.txt"
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
