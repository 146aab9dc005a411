"""Domain exceptions of the indexer: parse errors that name the file (and line) and index errors."""

from __future__ import annotations


class TropesearchError(Exception):
    """Base of every error tropesearch reports to a user (CLI: `Error: ...`; API: JSON)."""

    code = "error"


class ParseError(TropesearchError):
    """A page could not be parsed. Names the source file and, where it helps, the line."""

    code = "parse_error"

    def __init__(self, message: str, source: str | None = None, line: int | None = None):
        self.reason = message
        self.source = source
        self.line = line
        where = source or "<text>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class EmptyPageError(ParseError):
    """The input is empty or holds no page content."""


class BinaryInputError(ParseError):
    """The input is binary (NUL bytes or undecodable), not a text page."""


class PageTooLargeError(ParseError):
    """The input exceeds the configured maximum page size."""


class UnknownFormatError(ParseError):
    """Auto-detection could not tell which page format this is; pass --format."""


class MalformedPageError(ParseError):
    """The page is in a known format but its structure is broken (truncated, unterminated, too deep)."""


class MissingTitleError(ParseError):
    """The page names no trope and no manifest entry gives one; add it to a manifest.json."""


class IndexError_(TropesearchError):
    """Base for errors about the on-disk index (named with a trailing _ to not shadow IndexError)."""

    code = "index_error"


class NoIndexError(IndexError_):
    """No index has been published in the index directory yet."""

    code = "no_index"


class IndexMismatchError(IndexError_):
    """The published index was built with other settings (model, format version) than asked for."""

    code = "index_mismatch"


class CorruptIndexError(IndexError_):
    """An index version directory is damaged (truncated FAISS file, bad SQLite, missing manifest)."""

    code = "corrupt_index"


