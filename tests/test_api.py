"""The JSON API through Flask's test client: shapes, filters, paging, similar, lookups, errors, ops."""

from __future__ import annotations

import re

import pytest

from svc_fixtures import app, client, make_app  # noqa: F401 - fixtures

RESULT_KEYS = {"rank", "id", "score", "trope", "kind", "media", "work", "text", "snippet"}
RESPONSE_KEYS = {"query", "mode", "k", "offset", "total", "took_ms", "index_version", "results"}
MODES = ("hybrid", "dense", "lexical")


def ok(resp, status=200):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json
    return resp.get_json()


def assert_error(resp, status, code=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json, resp.get_data(as_text=True)[:200]
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture(scope="module")
def media_counts(tiny_version):
    with tiny_version.connect() as conn:
        rows = conn.execute("SELECT media, count(*) FROM passages WHERE media IS NOT NULL GROUP BY media "
                            "ORDER BY count(*) DESC").fetchall()
    return {m: n for m, n in rows}


@pytest.fixture(scope="module")
def top_passage(app):
    body = app.test_client().get("/api/search", query_string={"q": "aliens seduce humans", "k": 10}).get_json()
    return body["results"][0]


# -- search --------------------------------------------------------------------------------------------
def test_search_shape(client, tiny_version):
    body = ok(client.get("/api/search", query_string={"q": "aliens seduce humans", "k": 7}))
    assert set(body) == RESPONSE_KEYS
    assert body["query"] == "aliens seduce humans" and body["mode"] == "hybrid"
    assert body["k"] == 7 and body["offset"] == 0
    assert body["index_version"] == tiny_version.version_id
    assert isinstance(body["took_ms"], (int, float)) and body["took_ms"] >= 0
    assert 0 < len(body["results"]) <= 7 and body["total"] >= len(body["results"])
    for i, r in enumerate(body["results"]):
        assert set(r) == RESULT_KEYS
        assert r["rank"] == i + 1
        assert set(r["trope"]) == {"id", "title", "url"}
        assert r["kind"] in ("description", "quote", "example")
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_aliens_seduce_humans_finds_boldly_coming_first(client):
    body = ok(client.get("/api/search", query_string={"q": "aliens seduce humans"}))
    assert body["results"][0]["trope"]["id"] == "BoldlyComing"
    assert body["results"][0]["trope"]["title"] == "Boldly Coming"


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers(client, mode):
    body = ok(client.get("/api/search", query_string={"q": "aliens seduce humans", "mode": mode, "k": 5}))
    assert body["mode"] == mode
    assert body["results"], f"no results in {mode} mode"


def test_snippet_is_escaped_and_marks_terms(client):
    body = ok(client.get("/api/search", query_string={"q": "aliens seduce humans", "mode": "lexical", "k": 10}))
    marked = [r for r in body["results"] if "<mark>" in r["snippet"]]
    assert marked, "lexical hits should have highlighted terms"
    for r in body["results"]:
        without_marks = r["snippet"].replace("<mark>", "").replace("</mark>", "")
        assert "<" not in without_marks and ">" not in without_marks


def test_query_with_script_is_never_markup_in_snippets(client):
    q = "<script>alert(1)</script> aliens seduce humans"
    body = ok(client.get("/api/search", query_string={"q": q}))
    assert body["query"] == q  # JSON carries the text as data
    for r in body["results"]:
        assert "<script" not in r["snippet"]


@pytest.mark.parametrize("mode", MODES)
def test_media_filter_returns_k_results_of_that_media(client, media_counts, mode):
    media, count = next(iter(media_counts.items()))
    assert count >= 15, media_counts
    q = "an alien romance" if mode != "lexical" else "the"
    body = ok(client.get("/api/search", query_string={"q": q, "media": media, "k": 5, "mode": mode}))
    assert len(body["results"]) == 5
    assert all(r["media"] == media for r in body["results"])
    # the filter is case-insensitive and repeatable
    two = list(media_counts)[:2]
    body = ok(client.get("/api/search", query_string=[("q", q), ("media", two[0].lower()), ("media", two[1]),
                                                      ("k", "10"), ("mode", mode)]))
    assert len(body["results"]) == 10
    assert {r["media"] for r in body["results"]} <= set(two)


def test_kind_and_trope_filters(client):
    body = ok(client.get("/api/search", query_string={"q": "aliens seduce humans", "kind": "example", "k": 10}))
    assert len(body["results"]) == 10 and all(r["kind"] == "example" for r in body["results"])
    body = ok(client.get("/api/search", query_string={"q": "humans have sex with aliens", "trope": "boldlycoming", "k": 10}))
    assert len(body["results"]) == 10 and all(r["trope"]["id"] == "BoldlyComing" for r in body["results"])
    body = ok(client.get("/api/search", query_string={"q": "love", "trope": "NoSuchTrope"}))
    assert body["results"] == [] and body["total"] == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("group", ["passage", "trope"])
def test_paging_concatenates_to_one_page(client, mode, group):
    params = {"q": "aliens seduce humans" if mode != "lexical" else "alien love", "mode": mode, "group": group}
    whole = ok(client.get("/api/search", query_string={**params, "k": 15}))
    pages = [ok(client.get("/api/search", query_string={**params, "k": 5, "offset": off})) for off in (0, 5, 10)]
    ids = [r["id"] for p in pages for r in p["results"]]
    assert ids == [r["id"] for r in whole["results"]]
    assert len(ids) == len(set(ids))
    assert [r["rank"] for p in pages for r in p["results"]] == list(range(1, len(ids) + 1))
    assert {p["total"] for p in pages} == {whole["total"]}


def test_group_by_trope_gives_unique_tropes(client, tiny_version):
    n_tropes = tiny_version.manifest["counts"]["tropes"]
    body = ok(client.get("/api/search", query_string={"q": "love", "group": "trope", "k": 20, "mode": "dense"}))
    tropes = [r["trope"]["id"] for r in body["results"]]
    assert len(tropes) == len(set(tropes))
    assert len(tropes) >= min(n_tropes, 2)
    assert body["total"] <= n_tropes


def test_offset_past_the_end_is_an_empty_page(client):
    body = ok(client.get("/api/search", query_string={"q": "alien love", "mode": "lexical", "offset": 900, "k": 100}))
    assert body["results"] == [] and body["offset"] == 900


def test_facets_on_request(client):
    body = ok(client.get("/api/search", query_string={"q": "a weapon", "facets": "true"}))
    assert isinstance(body["facets"]["media"], dict) and body["facets"]["media"]
    assert all(isinstance(n, int) and n > 0 for n in body["facets"]["media"].values())
    assert "facets" not in ok(client.get("/api/search", query_string={"q": "a weapon"}))


# -- passages and similar --------------------------------------------------------------------------------
def test_passage_lookup(client, top_passage):
    body = ok(client.get(f"/api/passages/{top_passage['id']}"))
    assert body["id"] == top_passage["id"] and body["text"] == top_passage["text"]
    assert body["trope"] == top_passage["trope"]
    assert {"source", "position", "part", "tokens", "parent_id"} <= set(body)


def test_unknown_passage_is_404(client):
    assert_error(client.get("/api/passages/doesnotexist0000"), 404, "not_found")
    assert_error(client.get("/api/passages/doesnotexist0000/similar"), 404, "not_found")


def _norm(text):
    return " ".join(text.lower().split())


def test_similar_never_returns_itself_or_a_copy(client):
    seeds = ok(client.get("/api/search", query_string={"q": "aliens seduce humans", "k": 8}))["results"]
    for seed in seeds:
        body = ok(client.get(f"/api/passages/{seed['id']}/similar", query_string={"k": 20}))
        assert body["mode"] == "similar" and 0 < len(body["results"]) <= 20
        for r in body["results"]:
            assert r["id"] != seed["id"]
            assert _norm(r["text"]) != _norm(seed["text"])
        scores = [r["score"] for r in body["results"]]
        assert scores == sorted(scores, reverse=True)


def test_similar_scopes(client, top_passage):
    trope = top_passage["trope"]["id"]
    same = ok(client.get(f"/api/passages/{top_passage['id']}/similar", query_string={"scope": "same-trope", "k": 10}))
    assert same["results"] and all(r["trope"]["id"] == trope for r in same["results"])
    other = ok(client.get(f"/api/passages/{top_passage['id']}/similar", query_string={"scope": "other-tropes", "k": 10}))
    assert other["results"] and all(r["trope"]["id"] != trope for r in other["results"])
    anyw = ok(client.get(f"/api/passages/{top_passage['id']}/similar", query_string={"scope": "any", "k": 3}))
    assert len(anyw["results"]) == 3


def test_similar_to_pasted_text(client):
    body = ok(client.post("/api/similar", json={"text": "Captain Kirk seduces a green alien woman", "k": 4}))
    assert body["mode"] == "dense" and len(body["results"]) == 4
    assert body["results"][0]["trope"]["id"] == "BoldlyComing"
    body = ok(client.post("/api/similar", json={"text": "an alien romance"}))
    assert len(body["results"]) == 10


# -- tropes -------------------------------------------------------------------------------------------------
def test_trope_lookup(client):
    body = ok(client.get("/api/tropes/BoldlyComing"))
    assert body["id"] == "BoldlyComing" and body["title"] == "Boldly Coming"
    assert body["description"] and isinstance(body["description"], list)
    assert body["examples"] == sum(body["example_counts"].values()) > 0
    assert ok(client.get("/api/tropes/boldlycoming"))["id"] == "BoldlyComing"  # case-insensitive


def test_unknown_trope_is_404(client):
    err = assert_error(client.get("/api/tropes/NoSuchTropeAtAll"), 404, "not_found")
    assert "NoSuchTropeAtAll" in err["message"]


def test_trope_autocomplete(client):
    body = ok(client.get("/api/tropes", query_string={"prefix": "bold"}))
    assert body["prefix"] == "bold"
    assert [t["id"] for t in body["results"]] == ["BoldlyComing"]
    body = ok(client.get("/api/tropes", query_string={"prefix": "Interspecies R", "limit": 1}))
    assert [t["id"] for t in body["results"]] == ["InterspeciesRomance"]
    for limit in (1, 2, 100):
        body = ok(client.get("/api/tropes", query_string={"prefix": "a", "limit": limit}))
        assert len(body["results"]) <= limit
        assert all(t["title"].lower().startswith("a") or t["id"].lower().startswith("a") for t in body["results"])
    assert ok(client.get("/api/tropes", query_string={"prefix": "zzzz"}))["results"] == []


def test_stats(client, tiny_version):
    body = ok(client.get("/api/stats"))
    assert body["version"] == tiny_version.version_id and body["passages"] == tiny_version.count


# -- errors ---------------------------------------------------------------------------------------------------
LONG = "x" * 1001


@pytest.mark.parametrize("url", [
    "/api/search",                                   # missing q
    "/api/search?q=",                                # empty
    "/api/search?q=%20%20%09",                       # whitespace only
    f"/api/search?q={LONG}",                         # over-long
    "/api/search?q=a&k=0",
    "/api/search?q=a&k=101",
    "/api/search?q=a&k=-3",
    "/api/search?q=a&k=ten",
    "/api/search?q=a&k=",
    "/api/search?q=a&k=1.5",
    "/api/search?q=a&offset=-1",
    "/api/search?q=a&offset=1.5",
    "/api/search?q=a&offset=abc",
    "/api/search?q=a&offset=990&k=20",               # beyond the ranked depth
    "/api/search?q=a&mode=fuzzy",
    "/api/search?q=a&group=work",
    "/api/search?q=a&kind=trivia",
    "/api/search?q=a&facets=maybe",
    "/api/passages/x/similar?scope=everywhere",
    "/api/passages/x/similar?k=0",
    "/api/passages/x/similar?k=abc",
    "/api/tropes",
    "/api/tropes?prefix=",
    "/api/tropes?prefix=a&limit=0",
    "/api/tropes?prefix=a&limit=1000",
    "/api/tropes?prefix=a&limit=x",
])
def test_bad_parameters_are_400(client, url):
    err = assert_error(client.get(url), 400)
    assert err["code"] == "invalid_query"


def test_over_long_query_message(client):
    err = assert_error(client.get("/api/search", query_string={"q": LONG}), 400)
    assert "1000" in err["message"]


@pytest.mark.parametrize("body,content_type", [
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"text"', "application/json"),
    (b'{"k": 5}', "application/json"),                     # no text
    (b'{"text": ""}', "application/json"),
    (b'{"text": "   "}', "application/json"),
    (b'{"text": 42}', "application/json"),
    (b'{"text": "a", "k": 0}', "application/json"),
    (b'{"text": "a", "k": "5"}', "application/json"),
    (b'{"text": "a", "k": true}', "application/json"),
    (b'{"text": "a", "kk": 5}', "application/json"),        # unknown field
    (b"text=a", "application/x-www-form-urlencoded"),
])
def test_bad_similar_bodies_are_400(client, body, content_type):
    assert_error(client.post("/api/similar", data=body, content_type=content_type), 400, "invalid_query")


def test_similar_body_too_long_text_and_too_large_body(client):
    assert_error(client.post("/api/similar", json={"text": LONG}), 400, "invalid_query")
    huge = b'{"text": "' + b"a" * 200_000 + b'"}'
    assert_error(client.post("/api/similar", data=huge, content_type="application/json"), 413)


@pytest.mark.parametrize("url", ["/api/nope", "/api/search/extra", "/api/passages", "/api/", "/api"])
def test_unknown_api_route_is_json_404(client, url):
    err = assert_error(client.get(url), 404, "not_found")
    assert "openapi" in err["message"]


@pytest.mark.parametrize("method,url", [
    ("post", "/api/search?q=a"), ("get", "/api/similar"), ("delete", "/api/tropes/BoldlyComing"),
    ("put", "/api/passages/x"), ("post", "/healthz"),
])
def test_wrong_method_is_json_405(client, method, url):
    resp = getattr(client, method)(url)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"]


def test_internal_errors_are_json_without_traceback(app, client, monkeypatch):
    engine = app.extensions["tropesearch"].engine

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine, "trope", boom)
    err = assert_error(client.get("/api/tropes/BoldlyComing"), 500, "internal_error")
    assert "secret" not in err["message"]


def test_embedding_errors_are_503(app, client, monkeypatch):
    from searchsvc.holder import EMBEDDING_ERRORS

    holder = app.extensions["tropesearch"]

    def broken(*a, **k):
        raise EMBEDDING_ERRORS[0]("model exploded")

    monkeypatch.setattr(holder.encoder, "encode", broken)
    err = assert_error(client.get("/api/search", query_string={"q": "a query never cached before 7d1f"}), 503)
    assert err["code"] == "model_error" and "model exploded" in err["message"]


# -- no index -------------------------------------------------------------------------------------------------
def test_no_index_published(tmp_path, encoder):
    empty = tmp_path / "no-index"
    app_ = make_app(empty, encoder, RELOAD_INTERVAL=0)
    try:
        c = app_.test_client()
        assert ok(c.get("/healthz")) == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.is_json
        assert ready.get_json()["status"] == "unavailable"
        assert ready.get_json()["error"]["code"] == "no_index"
        for url in ("/api/search?q=aliens", "/api/tropes/BoldlyComing", "/api/passages/abc", "/api/stats",
                    "/api/tropes?prefix=a", "/api/passages/abc/similar"):
            err = assert_error(c.get(url), 503, "no_index")
            assert f"no index published under {empty}" in err["message"]
            assert "tropesearch build" in err["message"]
        assert_error(c.post("/api/similar", json={"text": "x"}), 503, "no_index")
        assert_error(c.get("/api/search?q="), 400)   # parameters are still checked first
        page = c.get("/?q=aliens")
        assert page.status_code == 503 and b"tropesearch build" in page.data
        assert b"tropesearch_index_ready 0.0" in c.get("/metrics").data
    finally:
        app_.extensions["tropesearch"].close()


# -- operations ---------------------------------------------------------------------------------------------
def test_healthz(client):
    assert ok(client.get("/healthz")) == {"status": "ok"}


def test_readyz(client, tiny_version, encoder):
    body = ok(client.get("/readyz"))
    assert body["status"] == "ready"
    d = body["details"]
    assert d["ready"] and d["warmed_up"] and d["watching"]
    assert d["index_version"] == tiny_version.version_id == d["published_version"]
    assert d["passages"] == tiny_version.count
    assert d["model_fingerprint"] == encoder.fingerprint
    assert d["last_error"] is None


def test_metrics(client, tiny_version):
    client.get("/api/search", query_string={"q": "aliens seduce humans"})
    client.get("/api/search")                          # a 400
    client.get("/api/tropes/NoSuchTrope")              # a 404
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert re.search(r'tropesearch_http_requests_total\{endpoint="api\.search",method="GET",status="200"\} [1-9]', text)
    assert re.search(r'tropesearch_http_requests_total\{endpoint="api\.search",method="GET",status="400"\} [1-9]', text)
    assert re.search(r'tropesearch_http_requests_total\{endpoint="api\.trope",method="GET",status="404"\} [1-9]', text)
    assert 'tropesearch_http_request_duration_seconds_bucket{endpoint="api.search",le="0.5",status="200"}' in text
    assert "tropesearch_http_request_duration_seconds_count" in text
    assert f'tropesearch_index_info{{index_type="flat",model="all-MiniLM-L6-v2",version="{tiny_version.version_id}"}} 1.0' in text \
        or re.search(rf'tropesearch_index_info\{{[^}}]*version="{tiny_version.version_id}"[^}}]*\}} 1\.0', text)
    assert f"tropesearch_index_passages {float(tiny_version.count)}" in text
    assert "tropesearch_index_ready 1.0" in text


def test_each_app_has_its_own_registry(tiny_index_dir, encoder, client):
    other = make_app(tiny_index_dir, encoder, RELOAD_INTERVAL=0, WARM_UP=False)
    try:
        other.test_client().get("/healthz")
        text = other.test_client().get("/metrics").get_data(as_text=True)
        assert 'endpoint="ops.healthz"' in text and 'endpoint="api.search"' not in text
    finally:
        other.extensions["tropesearch"].close()


@pytest.mark.parametrize("url", ["/api/search?q=aliens", "/api/search", "/api/nope", "/healthz", "/readyz",
                                 "/metrics", "/api/openapi.json", "/", "/?q=aliens", "/static/style.css",
                                 "/no-such-page", "/tropes/BoldlyComing"])
def test_security_headers_everywhere(client, url):
    with client.get(url) as resp:
        check_security_headers(resp)


def check_security_headers(resp):
    assert resp.headers["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


# -- OpenAPI --------------------------------------------------------------------------------------------------
def test_openapi_describes_every_route(app, client):
    spec = ok(client.get("/api/openapi.json"))
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if not (path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics")):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    assert served == documented
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["responses"] and op.get("summary"), (path, method)
            for param in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == param and p["in"] == "path" for p in op["parameters"]), (path, param)


def test_openapi_lists_every_parameter_and_schema(client):
    spec = ok(client.get("/api/openapi.json"))
    search_params = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert search_params == {"q", "k", "offset", "mode", "media", "trope", "kind", "group", "facets"}
    similar = {p["name"] for p in spec["paths"]["/api/passages/{passage_id}/similar"]["get"]["parameters"]}
    assert similar == {"passage_id", "k", "scope"}
    assert {p["name"] for p in spec["paths"]["/api/tropes"]["get"]["parameters"]} == {"prefix", "limit"}
    schemas = spec["components"]["schemas"]
    assert set(schemas["Result"]["required"]) == RESULT_KEYS
    assert set(schemas["SearchResponse"]["required"]) == RESPONSE_KEYS

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    for ref in refs(spec):
        assert ref.split("/")[-1] in schemas, ref
