"""The rendered-HTML parser on real pages (data/sample/html), broken input and random markup."""

from __future__ import annotations

import functools
import re
import time
from collections import Counter
from html import unescape
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import BinaryInputError, EmptyPageError, MalformedPageError, PageTooLargeError, ParseError
from indexer.formats.html import parse_text
from indexer.media import normalize_media
from indexer.page import Format, Page

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "html"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SITE = "https://tvtropes.org/pmwiki/pmwiki.php"
SAMPLE_PAGES = sorted(SAMPLE.glob("*.html"))
ACTION_GIRL = sorted((SAMPLE / "ActionGirl").glob("*.html"))

# What must never reach a text field: markup, entities, wiki markup, footnote labels.
DEBRIS_RE = re.compile(r"<[A-Za-z/!]|&nbsp;|&amp;|&quot;|&#\d+;|\[\[|\]\]|\{\{|\}\}|''|\u00a0|\bnote\s*$|  ")


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


@functools.lru_cache(maxsize=None)
def parse(path: Path) -> Page:
    """The one Page of a file, parsed once per session (tests only read it)."""
    pages = parse_text(read(path), str(path))
    assert len(pages) == 1
    return pages[0]


def text_fields(page: Page):
    yield page.title
    yield page.quote
    yield from page.description
    for link in page.related:
        yield link.text
    for section in page.sections:
        yield section.media
        for example in section.examples:
            for _, ex in example.walk():
                yield ex.text
                yield ex.work


def section_counts(page: Page) -> dict[str, int]:
    return {s.media: sum(1 for ex in s.examples for _ in ex.walk()) for s in page.sections}


def raw_folder_counts(html: str) -> Counter:
    """<li> per media folder, counted on the raw markup (not with the parser under test)."""
    article = html[html.index('id="main-article"'):]
    for end in ('<div class="alt-titles', '<div class="square_ad footer-article-ad', '<div class="section-links"'):
        if end in article:
            article = article[: article.index(end)]
    chunks = re.split(r"<div class=\"folderlabel\" onclick=\"togglefolder\('folder\d+'\);\">", article)[1:]
    counts: Counter = Counter()
    for chunk in chunks:
        label, body = chunk.split("</div>", 1)
        # C1 characters stand for cp1252 ones ("Films \x96 Animated" is "Films – Animated")
        label = "".join(
            bytes([ord(c)]).decode("cp1252", "ignore") if "\x80" <= c <= "\x9f" else c for c in unescape(label)
        )
        counts[normalize_media(label)] += len(re.findall(r"<li\b", body))
    return counts


# --- identity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,trope_id,title",
    [
        ("CatsHateWater", "CatsHateWater", "Cats Hate Water"),
        ("AliensLoveHumanFood", "AliensLoveHumanFood", "Aliens Love Human Food"),
        ("GreenSkinnedSpaceBabe", "GreenSkinnedSpaceBabe", "Green-Skinned Space Babe"),
        ("HealItWithWater", "HealItWithWater", "Heal It with Water"),
    ],
)
def test_trope_id_title_and_url_of_sample_pages(name, trope_id, title):
    page = parse(SAMPLE / f"{name}.html")
    assert (page.trope_id, page.title, page.url) == (trope_id, title, f"{SITE}/Main/{trope_id}")
    assert page.format is Format.HTML
    assert page.source == str(SAMPLE / f"{name}.html")
    assert page.description and page.sections


def test_example_counts_per_media_folder_match_the_raw_markup():
    expected = raw_folder_counts(read(SAMPLE / "GreenSkinnedSpaceBabe.html"))
    assert len(expected) >= 10 and sum(expected.values()) > 200
    assert section_counts(parse(SAMPLE / "GreenSkinnedSpaceBabe.html")) == dict(expected)


def test_nested_bullets_become_children():
    page = parse(SAMPLE / "GreenSkinnedSpaceBabe.html")
    dragon_ball = page.section("Anime & Manga").examples[1]
    assert dragon_ball.work == "Dragon Ball" and dragon_ball.text == "Dragon Ball:"
    assert len(dragon_ball.children) == 7
    assert all(child.work is None or child.work for child in dragon_ball.children)
    # a bullet's text is its own, never its sub-bullets'
    assert dragon_ball.children[0].text not in dragon_ball.text


def test_example_lines_point_into_the_file():
    path = SAMPLE / "HealItWithWater.html"
    lines = read(path).split("\n")
    page = parse(path)
    example = page.section("Comic Books").examples[0]
    assert example.line is not None and "Aquaman" in lines[example.line - 1]


def test_quote_description_and_related_links():
    page = parse(SAMPLE / "CatsHateWater.html")
    assert page.quote == (
        "To bathe a cat requires brute force, perseverance, courage of conviction - and a cat. "
        "The last ingredient is the hardest to come by. — Stephen Baker"
    )
    assert not any(p.startswith("To bathe a cat") for p in page.description)
    heal = parse(SAMPLE / "HealItWithWater.html")
    assert heal.quote is None
    assert heal.description[0].startswith("Pure, clean water washing away dirt and grime")
    targets = {link.target: link.text for link in heal.related}
    assert targets["CoolClearWater"] == "Cool, Clear Water"
    assert "HealItWithWater" not in targets
    assert len(targets) == len(heal.related)  # one link per target


def test_footnotes_become_parentheticals():
    heal = parse(SAMPLE / "HealItWithWater.html")
    text = " ".join(heal.description)
    assert (
        "wound washing (although running water alone is not enough to clean a wound; a disinfectant is "
        "necessary — water can even infect a wound without it) rely on running water"
    ) in text
    assert 'used to "flush" them out (Do Not Try This at Home!' in text
    assert "washing note" not in text and "outnote" not in text
    aliens = parse(SAMPLE / "AliensLoveHumanFood.html")
    manhunter = next(ex for ex in aliens.section("Comic Books").examples if ex.work == "Martian Manhunter")
    assert manhunter.text.startswith(
        "Martian Manhunter develops an addiction to Chocos (DC's Bland-Name Product for Oreos) some time"
    )


@pytest.mark.parametrize(
    "name,media,start,work",
    [
        ("HealItWithWater", "Comic Books", "Aquaman: For a time", "Aquaman"),  # <em><a Film/..>X</a></em>:
        ("AliensLoveHumanFood", "Comic Books", "Martian Manhunter develops", "Martian Manhunter"),  # bare link
        ("HealItWithWater", "Anime & Manga", "Ameno in Naruto", None),  # opens with plain text
        ("CatsHateWater", "Asian Animation", "Happy Heroes: In Season 7", "Happy Heroes"),
        ("GreenSkinnedSpaceBabe", "Comic Books", "The DCU:", "The DCU"),
    ],
)
def test_work_detection_on_real_bullets(name, media, start, work):
    page = parse(SAMPLE / f"{name}.html")
    matches = [ex for ex in page.section(media).examples if ex.text.startswith(start)]
    assert len(matches) == 1 and matches[0].work == work


@pytest.mark.parametrize("path", SAMPLE_PAGES + ACTION_GIRL, ids=lambda p: p.name)
def test_no_debris_in_any_text_field(path):
    page = parse(path)
    for value in text_fields(page):
        if value is None:
            continue
        assert value == value.strip() and value, repr(value)
        assert not DEBRIS_RE.search(value), repr(value[:200])
        assert not re.search(r"propertag|proper_display|Advertisement:|open/close all folders", value)


def test_no_ads_captions_or_folder_controls_leak():
    page = parse(SAMPLE / "HealItWithWater.html")
    everything = " ".join(v for v in text_fields(page) if v)
    assert "For once, giving someone the cold shoulder is a good thing." not in everything  # image caption
    assert "open/close all folders" not in everything


# --- split trope -------------------------------------------------------------------------


def test_split_trope_main_page_lists_its_subpages():
    page = parse(SAMPLE / "ActionGirl" / "Main.html")
    assert (page.trope_id, page.title, page.url) == ("ActionGirl", "Action Girl", f"{SITE}/Main/ActionGirl")
    assert page.quote and page.quote.startswith('"I\'m a big haymaker in a title fight.')
    assert page.description[0].startswith("An Action Girl is a female badass")
    assert {"AnimeAndManga", "LiveActionTV", "VideoGames", "RealLife"} <= set(page.subpages)
    assert len(page.subpages) == 21
    assert not page.sections  # its only lists are subpage links and sub-tropes
    assert {"ActionFashionista", "DamselInDistress"} <= {link.target for link in page.related}


@pytest.mark.parametrize(
    "name,media",
    [("AnimeAndManga", "Anime & Manga"), ("LiveActionTV", "Live-Action TV"), ("VideoGames", "Video Games")],
)
def test_split_trope_subpage_is_the_trope_with_one_media_section(name, media):
    path = SAMPLE / "ActionGirl" / f"{name}.html"
    html = read(path)
    page = parse(path)
    assert (page.trope_id, page.title) == ("ActionGirl", "Action Girl")
    assert page.url == f"{SITE}/ActionGirl/{name}"
    assert [s.media for s in page.sections] == [media] == [normalize_media(name)]
    article = html[html.index('id="main-article"'):html.index('<div class="square_ad footer-article-ad')]
    if '<div class="alt-titles' in article:
        article = article[: article.index('<div class="alt-titles')]
    assert page.example_count() == len(re.findall(r"<li\b", article))


def test_subpage_title_read_from_either_title_order():
    head = '<html><head><title>{}</title><link rel="canonical" href="{}/ActionGirl/AnimeAndManga"></head><body>'
    body = '<div id="main-article"><ul><li>Mikasa fights Titans.</li></ul></div></body></html>'
    for title in ("Anime & Manga / Action Girl - TV Tropes", "Action Girl / Anime & Manga - TV Tropes"):
        page = parse_text(head.format(title, SITE) + body, "t.html")[0]
        assert (page.trope_id, page.title) == ("ActionGirl", "Action Girl")
        assert page.section("Anime & Manga").examples[0].text == "Mikasa fights Titans."


# --- small pages ----------------------------------------------------------------------------

HEAD = (
    '<html><head><title>Boldly Coming - TV Tropes</title>'
    f'<link href="{SITE}/Main/BoldlyComing" rel="canonical"/></head><body>'
)


def page_of(article: str) -> Page:
    html = HEAD + f'<div class="article-content" id="main-article">{article}</div></body></html>'
    return parse_text(html, "t.html")[0]


def test_flat_list_without_folders_goes_to_other_or_its_header_media():
    page = page_of("<p>A trope.</p><hr/><h2>Examples:</h2><ul><li>One.</li><li>Two.</li></ul>")
    assert section_counts(page) == {"Other": 2}
    page = page_of("<p>A trope.</p><hr/><h2>Video Games</h2><ul><li>One.</li></ul><h3>Film</h3><ul><li>Two.</li></ul>")
    assert section_counts(page) == {"Video Games": 1, "Films": 1}


def test_script_inside_an_example_does_not_leak():
    page = page_of(
        '<p>Desc.</p><hr/><div class="folderlabel">Film</div><div class="folder"><ul><li>'
        '<em><a class="twikilink" href="/pmwiki/pmwiki.php/Film/GalaxyQuest">Galaxy Quest</a></em>: Before'
        '<script>document.write("</li></ul><b>boom</b>"); var x = 1 < 2;</script> after.'
        '<div class="proper-ad-unit"><h6 class="ad-caption">Advertisement:</h6></div></li></ul></div>'
    )
    [example] = page.section("Films").examples
    assert example.text == "Galaxy Quest: Before after."
    assert example.work == "Galaxy Quest"


def test_spoilers_kept_as_text():
    page = page_of('<p>Desc.</p><hr/><ul><li>Ending: <span class="spoiler" title="x">everyone dies</span>.</li></ul>')
    assert page.section("Other").examples[0].text == "Ending: everyone dies."


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t ", "<html><head></head><body></body></html>", "<!---->" * 50])
def test_empty_input(text):
    with pytest.raises(EmptyPageError):
        parse_text(text, "empty.html")


def test_article_without_text_is_empty():
    with pytest.raises(EmptyPageError):
        page_of('<p> &nbsp; </p><div class="proper-ad-unit"><script>x()</script></div>')


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_page_is_malformed(fraction):
    html = read(SAMPLE / "CatsHateWater.html")
    start = html.index('<div class="article-content retro-folders" id="main-article">')
    end = html.rindex("</ul></div>", start, html.index('<div class="square_ad footer-article-ad'))  # last folder
    cut = start + int((end - start) * fraction)
    for text in (html[: start - 100], html[:cut]):
        with pytest.raises(MalformedPageError) as err:
            parse_text(text, "cut.html")
        assert err.value.source == "cut.html"


def test_page_cut_in_its_footer_still_parses():
    html = read(SAMPLE / "CatsHateWater.html")
    cut = html[: html.index('<div class="section-links"') + 200]
    assert parse_text(cut, "cut.html")[0].example_count() == parse(SAMPLE / "CatsHateWater.html").example_count()


def test_page_without_main_article_is_malformed():
    with pytest.raises(MalformedPageError, match="main-article"):
        parse_text("<html><head><title>X - TV Tropes</title></head><body><div id=\"main-art", "t.html")


def test_nul_bytes_are_binary():
    with pytest.raises(BinaryInputError):
        parse_text("<html>\x00\x00</html>", "b.html")


def test_bullets_nested_too_deep_are_malformed():
    with pytest.raises(MalformedPageError, match="nested"):
        page_of("<p>x</p><hr/>" + "<ul><li>deeper" * 12 + "</li></ul>" * 12)


def test_five_megabyte_page_parses_in_seconds():
    html = read(SAMPLE / "GreenSkinnedSpaceBabe.html")
    start = html.index('<div class="folderlabel" onclick="togglefolder(\'folder0\');">')
    end = html.index('<div class="alt-titles')
    end = html.rindex("</ul></div>", start, end) + len("</ul></div>")
    folders = html[start:end]
    copies = 5 * 1024 * 1024 // len(folders) + 1
    big = html[:start] + folders * copies + html[end:]
    assert len(big) > 5 * 1024 * 1024
    began = time.perf_counter()
    page = parse_text(big, "big.html")[0]
    elapsed = time.perf_counter() - began
    assert page.example_count() == copies * sum(raw_folder_counts(html).values())
    assert elapsed < 8, elapsed


def test_markup_bomb_is_refused_quickly():
    began = time.perf_counter()
    with pytest.raises(PageTooLargeError):
        page_of("<b></b>" * 300_000)
    assert time.perf_counter() - began < 3


# --- any input ------------------------------------------------------------------------------

FRAGMENTS = [
    '<div id="main-article">', "</div>", "<p>", "</p>", "<ul>", "</ul>", "<li>", "</li>", "<hr/>",
    "<h2>Examples:</h2>", "<h3>Video Games</h3>", '<div class="folderlabel">Film</div>', '<div class="folder">',
    '<div class="indent">', "<em>", "</em>", '<a class="twikilink" href="/pmwiki/pmwiki.php/Main/ChekhovsGun">',
    '<a href="/pmwiki/pmwiki.php/Film/Alien">', "</a>", '<span class="notelabel"><sup>note </sup></span>',
    '<span class="inlinefolder" isnote="true">', "</span>", '<span class="spoiler">', "<script>", "</script>",
    "<!--", "-->", "<![CDATA[", "<!DOCTYPE html>", "&nbsp;", "&amp;", "&#150;", "&", "<", ">", "\x96", "\n",
    "Some text.", ": ", '<div class="proper-ad-unit">Advertisement:</div>', "<br>", "<title>T - TV Tropes</title>",
    '<link rel="canonical" href="https://tvtropes.org/pmwiki/pmwiki.php/Main/Foo">',
    '<link rel="canonical" href="https://tvtropes.org/pmwiki/pmwiki.php/Foo/VideoGames">',
]
markup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=40).map("".join)


def check_pages(pages) -> None:
    assert isinstance(pages, list) and len(pages) == 1
    for value in text_fields(pages[0]):
        assert value is None or (isinstance(value, str) and value == value.strip() and "  " not in value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=markup, wrap=st.booleans())
def test_any_mix_of_fragments_gives_pages_or_a_parse_error(body, wrap):
    text = f'<html><head></head><body><div id="main-article">{body}</div></body></html>' if wrap else body
    try:
        pages = parse_text(text, "h.html")
    except ParseError as exc:
        assert exc.source == "h.html"
        return
    check_pages(pages)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_gives_pages_or_a_parse_error(text):
    try:
        check_pages(parse_text(text, "t.html"))
    except ParseError:
        pass


# --- the full corpus (skipped where /work/shared is not mounted) -------------------------


@pytest.mark.skipif(not (CORPUS / "html").is_dir(), reason="no shared corpus here")
def test_whole_html_corpus_parses_with_counts_matching_the_markup():
    paths = sorted((CORPUS / "html").glob("*.html"))
    subpages = sorted((CORPUS / "html" / "ActionGirl").glob("*.html"))
    assert len(paths) >= 40 and len(subpages) >= 22
    for path in paths:
        html = read(path)
        page = parse_text(html, str(path))[0]
        assert page.trope_id == path.stem and page.title and page.description, path
        assert section_counts(page) == dict(raw_folder_counts(html)), path
        for value in text_fields(page):
            assert value is None or not DEBRIS_RE.search(value), (path, value[:200])
    for path in subpages:
        page = parse(path)
        assert page.trope_id == "ActionGirl" and page.title == "Action Girl", path
        if path.stem != "Main":
            assert [s.media for s in page.sections] == [normalize_media(path.stem)], path
