"""One vocabulary for media categories, whatever spelling a page uses.

"Live-Action TV", "LiveActionTV" and "Series" are one category; so are "Anime and Manga",
"AnimeAndManga", "Anime & Manga" and "Anime". `normalize_media` returns the display label.
"""

from __future__ import annotations

import re

from .wikiwords import split_camel_case

# canonical display label -> spellings (compared after `_key`)
_CANONICAL: dict[str, tuple[str, ...]] = {
    "Advertising": ("advertising", "advertisements", "ads", "commercials"),
    "Anime & Manga": ("animeandmanga", "anime", "manga", "animemanga"),
    "Animated Films": ("animatedfilms", "animatedfilm", "filmanimated", "filmsanimated", "filmanimation",
                       "filmsanimation", "westernanimationfilms", "animatedmovies"),
    "Asian Animation": ("asiananimation",),
    "Audio Plays": ("audioplays", "audioplay"),
    "Card Games": ("cardgames",),
    "Comic Books": ("comicbooks", "comics", "comicbook"),
    "Comic Strips": ("comicstrips", "comicstrip", "newspapercomics"),
    "Fan Works": ("fanworks", "fanfic", "fanfiction", "fanfics", "fanwork"),
    "Films": ("film", "films", "movies", "movie"),
    "Live-Action Films": ("liveactionfilms", "liveactionfilm", "filmliveaction", "filmsliveaction",
                          "liveactionmovies"),
    "Literature": ("literature", "books", "novels", "lightnovels"),
    "Live-Action TV": ("liveactiontv", "series", "television", "tv", "liveactiontelevision"),
    "Music": ("music", "musicvideos"),
    "Mythology & Religion": (
        "mythologyandreligion", "mythsandreligion", "mythology", "religion", "mythsreligion",
        "religionandmythology", "folklore", "mythologyreligion", "mythologyandfolklore", "mythsandfolklore",
    ),
    "Newspaper Comics": ("newspapercomicsstrips",),
    "Pinball": ("pinball", "pinballs"),
    "Podcasts": ("podcasts", "podcast"),
    "Professional Wrestling": ("professionalwrestling", "prowrestling", "wrestling"),
    "Puppet Shows": ("puppetshows", "puppetshow"),
    "Radio": ("radio",),
    "Real Life": ("reallife",),
    "Sports": ("sports", "sport"),
    "Stand-Up Comedy": ("standupcomedy", "standup"),
    "Tabletop Games": ("tabletopgames", "tabletopgame", "tabletoprpg", "boardgames"),
    "Theatre": ("theatre", "theater", "theatreandmusicals"),
    "Theme Parks": ("themeparks", "themepark"),
    "Toys": ("toys", "toy"),
    "Video Games": ("videogames", "videogame", "games"),
    "Visual Novels": ("visualnovels", "visualnovel"),
    "Web Animation": ("webanimation",),
    "Webcomics": ("webcomics", "webcomic"),
    "Web Video": ("webvideo", "webvideos", "youtube"),
    "Web Original": ("weboriginal", "web", "internet", "website", "websites"),
    "Western Animation": ("westernanimation", "cartoons", "animation"),
    "Other": ("other", "othermedia", "miscellaneous", "misc", "multiplemedia", "multimedia"),
}

_ALIASES: dict[str, str] = {}
for _label, _spellings in _CANONICAL.items():
    _ALIASES[re.sub(r"[^a-z0-9]", "", _label.lower().replace("&", "and"))] = _label
    for _spelling in _spellings:
        _ALIASES[_spelling] = _label

MEDIA_LABELS: tuple[str, ...] = tuple(_CANONICAL)


def _key(label: str) -> str:
    label = label.replace("\u00a0", " ").strip().lower().replace("&", "and")
    return re.sub(r"[^a-z0-9]", "", label)


def normalize_media(label: str | None) -> str | None:
    """Map any spelling of a media category to its display label.

    Unknown categories are kept, CamelCase split into words ("StandUp" -> "Stand Up").
    Returns None for an empty label.
    """
    if label is None:
        return None
    label = label.replace("\u00a0", " ").strip().strip(":").strip()
    if not label:
        return None
    key = _key(label)
    if key in _ALIASES:
        return _ALIASES[key]
    # "Film — Animated", "Films -- Live-Action", "Video Games - RPG"...
    head = re.split(r"\s+[-\u2014\u2013]+\s+|\s*/\s*|:\s*", label)[0]
    if head != label and _key(head) in _ALIASES:
        return _ALIASES[_key(head)]
    if " " not in label:
        label = split_camel_case(label)
    return label
