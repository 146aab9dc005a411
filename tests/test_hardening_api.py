"""Hardening of the HTTP side: no request, however malformed, gets a 5xx; bad ones get a 4xx JSON
error with a clear message; every response carries the security headers.

- schemathesis against /api/openapi.json, in process (WSGI): every operation, every parameter,
  schema-valid (positive) and schema-violating (negative) requests; no 5xx, and responses conform
  to the document (status codes, content types, bodies, headers). Bounded examples; the long run
  is marked slow. (schemathesis's own pytest plugin needs `_nodeid`, gone in pytest 9, so the
  operations are driven through `APIOperation.as_strategy()` and hypothesis directly.)
- the nasty queries the issue names: control characters, invalid UTF-8 escapes, a 10 KB query,
  k=0, k=10**9, negative offsets, unknown modes, each a 4xx JSON error naming the parameter;
- request bodies that break JSON decoders (deep nesting, lone surrogates);
- hypothesis over raw query strings on the API and the HTML pages: never a 5xx, always
  Content-Security-Policy and `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchsvc.app import CONTENT_SECURITY_POLICY
from searchsvc.openapi import build_spec
from svc_fixtures import app  # noqa: F401 - fixture

try:
    import schemathesis
    from schemathesis import GenerationMode
except ImportError:  # pragma: no cover - dev extra not installed
    schemathesis = None

OPERATIONS = [(path, method.upper()) for path, ops in build_spec()["paths"].items() for method in ops]


def header(resp, name: str) -> str | None:
    """A response header from a werkzeug response or a schemathesis one (lower-case keys, lists)."""
    value = resp.headers.get(name)
    if value is None and isinstance(resp.headers, dict):
        value = resp.headers.get(name.lower())
    return value[0] if isinstance(value, list) else value


def check_headers(resp) -> None:
    assert header(resp, "Content-Security-Policy") == CONTENT_SECURITY_POLICY, resp.headers
    assert header(resp, "X-Content-Type-Options") == "nosniff", resp.headers


def check_error(resp, status: int | tuple[int, ...] = 400, *mentions: str) -> dict:
    """A 4xx JSON error {"error": {"code", "message"}} whose message is one clear line."""
    statuses = (status,) if isinstance(status, int) else status
    body = resp.get_data(as_text=True)
    assert resp.status_code in statuses, f"{resp.status_code}: {body[:300]}"
    assert resp.is_json, body[:300]
    error = resp.get_json()["error"]
    message = error["message"]
    assert error["code"] and message and "Traceback" not in message and len(message) < 400, error
    for word in mentions:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    check_headers(resp)
    return error


# -- schemathesis ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_schema(app):
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (pip install 'schemathesis>=4.32')")
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def run_schemathesis(api_schema, path: str, method: str, mode: str, max_examples: int) -> int:
    """Drive one operation with `max_examples` generated requests; returns how many were sent.
    Fails on any 5xx or any response that does not conform to the document."""
    from hypothesis.errors import Unsatisfiable
    from schemathesis import checks

    operation = api_schema[path][method]
    conformance = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
                   checks.response_schema_conformance, checks.response_headers_conformance]
    sent = []

    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    def fuzz(case):
        response = case.call()
        sent.append(response.status_code)
        assert response.status_code < 500, f"{response.status_code} for {case.method} {case.path} " \
                                           f"{case.query} {getattr(case, 'body', None)!r:.200}: {response.text[:300]}"
        case.validate_response(response, checks=conformance)
        check_headers(response)

    try:
        fuzz()
    except Unsatisfiable:
        # nothing schema-violating can be generated (an operation without parameters, a free string)
        assert mode == "negative", f"no positive example for {method} {path}"
    return len(sent)


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("path,method", OPERATIONS)
def test_schemathesis_no_5xx_and_conforming_responses(api_schema, path, method, mode):
    sent = run_schemathesis(api_schema, path, method, mode, max_examples=25)
    print(f"schemathesis {mode} {method} {path}: {sent} requests")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("path,method", OPERATIONS)
def test_schemathesis_long_run(api_schema, path, method, mode):
    sent = run_schemathesis(api_schema, path, method, mode, max_examples=300)
    print(f"schemathesis {mode} {method} {path}: {sent} requests")


# -- the nasty queries named by the issue ---------------------------------------------------------------
TEN_KB = "x" * 10_240


@pytest.mark.parametrize("url,mentions", [
    (f"/api/search?q={TEN_KB}", ("too long", "1000")),
    (f"/api/search?q={'a%20' * 3000}", ("too long",)),
    ("/api/search?q=love&k=0", ("k",)),
    ("/api/search?q=love&k=1000000000", ("k",)),
    (f"/api/search?q=love&k={10 ** 30}", ("k",)),
    ("/api/search?q=love&k=-5", ("k",)),
    ("/api/search?q=love&k=1e3", ("k",)),
    ("/api/search?q=love&offset=-1", ("offset",)),
    ("/api/search?q=love&offset=-99999999999", ("offset",)),
    ("/api/search?q=love&offset=999999999", ("offset",)),
    ("/api/search?q=love&mode=bogus", ("mode", "hybrid")),
    ("/api/search?q=love&mode=", ("mode",)),
    ("/api/search?q=love&mode=%00", ("mode",)),
    ("/api/search?q=love&group=%C3%A9", ("group",)),
    ("/api/search?q=love&kind=%3Cscript%3E", ("kind",)),
    ("/api/search?q=love&facets=%00", ("facets",)),
    (f"/api/search?q=love&media={'m' * 500}", ("too long",)),
    (f"/api/search?q=love&trope={'T' * 5000}", ("too long",)),
    ("/api/search?q=%01%02%03%1b", ("q",)),          # "empty" now; the issue wants "control characters"
    ("/api/search?q=%00", ("q",)),
    ("/api/passages/x/similar?k=0", ("k",)),
    ("/api/passages/x/similar?k=1000000000", ("k",)),
    ("/api/passages/x/similar?scope=%00", ("scope",)),
    (f"/api/tropes?prefix={'p' * 10_240}", ("prefix",)),
    ("/api/tropes?prefix=a&limit=1000000000", ("limit",)),
    ("/api/tropes?prefix=a&limit=-1", ("limit",)),
])
def test_nasty_parameters_are_4xx_with_a_clear_message(app, url, mentions):
    check_error(app.test_client().get(url), 400, *mentions)


@pytest.mark.parametrize("q", ["love%01%02", "%1b%5B31mlove%1b%5B0m", "lo%00ve"])
def test_control_characters_in_a_query_are_a_4xx(app, q):
    """The issue: "query strings with control characters ... each a 4xx with a clear message".
    (The service now strips them and searches the rest, answering 200.)"""
    check_error(app.test_client().get(f"/api/search?q={q}"), 400, "control")


@pytest.mark.parametrize("q,expected", [
    ("won%C2%92t let them", "won\u2019t let them"),          # a dev query's own apostrophe
    ("Film %C2%96 Animated", "Film \u2013 Animated"),
    ("love%C2%81", "love"),                                   # undefined in cp1252: dropped
])
def test_c1_mojibake_in_a_query_is_repaired_not_refused(app, q, expected):
    """C1 characters are cp1252 bytes read as Latin-1 (real queries carry them, as pages do):
    the query searches for what they stand for, the same repair the parsers make."""
    resp = app.test_client().get(f"/api/search?q={q}")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["query"] == expected


@pytest.mark.parametrize("qs", ["q=%ff%fe", "q=love%ed%a0%80", "q=love&media=%fe"])
def test_invalid_utf8_escapes_are_a_4xx(app, qs):
    """The issue: invalid UTF-8 escapes are a 4xx with a clear message. (Werkzeug leaves an
    undecodable escape as the literal text "%FF", so `q=%ff%fe` searched for "%FF%FE" and answered 200.)"""
    check_error(app.test_client().get(f"/api/search?{qs}"), 400, "UTF-8")


@pytest.mark.parametrize("body,content_type", [
    (b"[" * 30_000 + b"]" * 30_000, "application/json"),           # deeper than json's recursion limit
    (b'{"text": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "application/json"),
    (b'{"text": "\\ud800 lone surrogate"}', "application/json"),  # valid JSON, not encodable text
    (b'{"text": "\\udfff"}', "application/json"),
    (b'{"text": "ok", "k": 1e999}', "application/json"),
    (b'{"text": "ok", "k": -0}', "application/json"),
    (b'{"text": "\xff\xfe"}', "application/json"),
    (b"\x00" * 1000, "application/json"),
    (b'{"text": "ok"}' + b" " * 70_000, "application/json"),       # over the body limit
])
def test_hostile_similar_bodies_are_4xx(app, body, content_type):
    check_error(app.test_client().post("/api/similar", data=body, content_type=content_type), (400, 413))


@pytest.mark.parametrize("q", ['"unbalanced', "NEAR(", "*", "AND OR NOT", "title:love", "^love", "{a b}:x",
                               "-love", "love -", "(((", 'a b* "c', "love AND", "NOT", "'", "\\", "%", "_"])
@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_fts_syntax_in_a_query_is_searched_as_text(app, q, mode):
    resp = app.test_client().get("/api/search", query_string={"q": q, "mode": mode})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]


# -- any query string, on the API and on the pages -------------------------------------------------------
PARAMS = ["q", "k", "offset", "mode", "media", "trope", "kind", "group", "facets", "scope", "prefix", "limit", "x"]
NASTY_VALUES = ["", "0", "-1", "1", "100", "101", "1000000000", "1e3", "hybrid", "dense", "lexical", "trope", "passage",
                "example", "true", "Film", "BoldlyComing", "aliens", "<script>alert(1)</script>", '"><img src=x onerror=1>',
                "javascript:alert(1)", "%", "%%", "%zz", "%ff", "%00", "%ed%a0%80", "%c0%af", "%e2%80%ae", "\u202e",
                "NEAR(", '"', "*", "\\", "'", "..", "../../etc/passwd", "x" * 1500]


def _encode(value: str) -> str:
    # raw escapes (starting with %) go through as they are, anything else is percent-encoded
    return value if value.startswith("%") else quote(value, safe="")


raw_value = st.one_of(st.sampled_from(NASTY_VALUES), st.text(max_size=30).map(_encode),
                      st.binary(max_size=12).map(lambda b: "".join(f"%{c:02x}" for c in b)))
query_string = st.lists(st.tuples(st.sampled_from(PARAMS), raw_value), max_size=6).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
PATHS = ["/api/search", "/api/tropes", "/api/passages/x/similar", "/api/stats", "/", "/tropes/BoldlyComing",
         "/similar/x", "/api/nope", "/healthz", "/readyz"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), qs=query_string)
def test_any_query_string_is_never_a_5xx(app, path, qs):
    with app.test_client().get(f"{path}?{qs}") as resp:
        assert resp.status_code < 500, f"{resp.status_code} for {path}?{qs}: {resp.get_data(as_text=True)[:300]}"
        check_headers(resp)
        if path.startswith("/api/") and resp.status_code >= 400:
            check_error(resp, resp.status_code)


segment = st.one_of(st.sampled_from(["BoldlyComing", "x", "..", "%00", "%ff", "%2f", "%2e%2e", "a" * 300]),
                    st.text(alphabet=string.printable, min_size=1, max_size=40).map(lambda s: quote(s, safe="")))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(prefix=st.sampled_from(["/api/passages/", "/api/tropes/", "/tropes/", "/similar/", "/static/", "/api/"]),
       seg=segment, tail=st.sampled_from(["", "/similar", "/x", "/"]))
def test_any_path_is_never_a_5xx(app, prefix, seg, tail):
    with app.test_client().get(prefix + seg + tail) as resp:
        assert resp.status_code < 500, f"{resp.status_code} for {prefix + seg + tail}"
        check_headers(resp)


def test_every_method_on_every_route_is_never_a_5xx(app):
    client = app.test_client()
    for path in ["/api/search?q=a", "/api/similar", "/api/tropes?prefix=a", "/api/stats", "/", "/healthz", "/metrics"]:
        for method in ["get", "post", "put", "delete", "patch", "options", "head"]:
            with getattr(client, method)(path, data=b"{}", content_type="application/json") as resp:
                assert resp.status_code < 500, f"{method.upper()} {path}: {resp.status_code}"
                check_headers(resp)


def test_responses_are_json_with_a_charset_and_never_sniffable(app):
    client = app.test_client()
    for url in ["/api/search?q=%3Cscript%3E", "/api/search", "/api/nope", "/readyz"]:
        with client.get(url) as resp:
            assert resp.mimetype == "application/json", (url, resp.mimetype)
            check_headers(resp)
