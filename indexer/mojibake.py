"""cp1252 mojibake: C1 control characters (U+0080..U+009F) that are cp1252 bytes read as Latin-1.

Real text carries them ("won\\x92t", "Film \\x96 Animated", "&#150;"): each stands for the cp1252
character it was ("won’t", "Film – Animated"); the five code points cp1252 leaves undefined are
dropped. The parsers and the query side use the same table, so a query typed with the same
mojibake as a page still matches it.
"""

from __future__ import annotations

# C1 code point -> the cp1252 character it stands for (None: undefined in cp1252, dropped)
C1_AS_CP1252: dict[int, str | None] = {}
for _cp in range(0x80, 0xA0):
    try:
        C1_AS_CP1252[_cp] = bytes([_cp]).decode("cp1252")
    except UnicodeDecodeError:
        C1_AS_CP1252[_cp] = None

# C1 mojibake mapped, plus invisible characters dropped (zero-width space, BOM, soft hyphen,
# word joiner): the translation table for display prose
PROSE_TABLE: dict[int, str | None] = {**C1_AS_CP1252, 0x200B: None, 0xFEFF: None, 0x00AD: None, 0x2060: None}


def repair_c1(text: str) -> str:
    """`text` with each C1 control character replaced by its cp1252 character (or removed)."""
    return text.translate(C1_AS_CP1252)
