"""Format parsers. Each module exposes `parse_text(text: str, source: str) -> list[Page]`.

A parser returns clean prose (no markup, link marks or footnote debris) and raises a
`ParseError` subclass (never anything else) for input it cannot make sense of. Pages may leave
`trope_id`/`title` as None when the text does not name its trope; the caller fills them from a
manifest or reports the page.
"""

from __future__ import annotations

import importlib
from typing import Callable

from ..page import Format, Page

ParserFn = Callable[[str, str], list[Page]]


def parser_for(fmt: Format) -> ParserFn:
    module = importlib.import_module(f"{__name__}.{fmt.value}")
    return module.parse_text
