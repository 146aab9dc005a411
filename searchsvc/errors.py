"""Errors of the query engine, each with an HTTP status for the API's error handlers."""

from __future__ import annotations

from indexer.errors import TropesearchError


class SearchError(TropesearchError):
    code = "bad_request"
    status = 400


class InvalidQueryError(SearchError):
    """A parameter is missing, empty, too long or out of range."""

    code = "invalid_query"
    status = 400


class NotFoundError(SearchError):
    code = "not_found"
    status = 404


class ServiceUnavailableError(SearchError):
    code = "unavailable"
    status = 503
