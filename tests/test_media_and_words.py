"""Media vocabulary and WikiWord helpers."""

import pytest

from indexer.media import MEDIA_LABELS, normalize_media
from indexer.wikiwords import split_camel_case, title_from_id, trope_id_from_url


@pytest.mark.parametrize(
    "spellings",
    [
        ("Live-Action TV", "LiveActionTV", "Series", "live action tv"),
        ("Anime and Manga", "AnimeAndManga", "Anime & Manga", "Anime", "\u00a0\u00a0Anime and Manga\u00a0"),
        ("Video Games", "VideoGames", "VideoGame"),
        ("Mythology & Religion", "MythsAndReligion", "MythologyAndReligion"),
        ("Films", "Film", "Movies"),
    ],
)
def test_media_spellings_share_one_label(spellings):
    labels = {normalize_media(s) for s in spellings}
    assert len(labels) == 1
    assert labels.pop() in MEDIA_LABELS


def test_unknown_media_is_kept_readable():
    assert normalize_media("StandUpPoetry") == "Stand Up Poetry"
    assert normalize_media("  ") is None
    assert normalize_media("Film — Animated") == "Animated Films"
    assert normalize_media("Video Games - Role-Playing") == "Video Games"


def test_camel_case_and_titles():
    assert split_camel_case("ChekhovsGun") == "Chekhovs Gun"
    assert split_camel_case("AChildShallLEadThem").startswith("A Child Shall")
    assert title_from_id("ADarkerShadeOfGrey") == "A Darker Shade of Grey"
    assert trope_id_from_url("https://tvtropes.org/pmwiki/pmwiki.php/Main/BoldlyComing") == "BoldlyComing"
    assert trope_id_from_url("https://tvtropes.org/pmwiki/pmwiki.php/Film/Alien") is None
