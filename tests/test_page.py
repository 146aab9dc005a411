"""The server-rendered page: search, facets, paging, grouping, trope view, "more like this", escaping."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from svc_fixtures import XSS_TEXT, XSS_TITLE, app, client, make_app, xss_index_dir  # noqa: F401 - fixtures


class Page(HTMLParser):
    """Collects links (href, classes, text), tags with attributes, and result cards of a page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.links: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self._open_links: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "a":
            link = {"href": attrs.get("href"), "class": (attrs.get("class") or "").split(), "text": ""}
            self.links.append(link)
            self._open_links.append(link)

    def handle_endtag(self, tag):
        if tag == "a" and self._open_links:
            link = self._open_links.pop()
            link["text"] = " ".join(link["text"].split())

    def handle_data(self, data):
        for link in self._open_links:
            link["text"] += data

    def links_with(self, cls):
        return [link for link in self.links if cls in link["class"]]


def get_page(client, url, status=200, **params):
    resp = client.get(url, query_string=params or None)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    return html, Page(html)


def args_of(href):
    return parse_qs(urlsplit(href).query)


def result_ids(html):
    return re.findall(r'<article class="result" id="r-([^"]+)"', html)


# -- basics --------------------------------------------------------------------------------------------
def test_empty_state(client):
    html, page = get_page(client, "/")
    forms = [a for t, a in page.tags if t == "form"]
    assert forms and forms[0]["method"] == "get" and forms[0]["action"] == "/"
    assert any(t == "input" and a.get("name") == "q" for t, a in page.tags)
    assert any(t == "select" and a.get("name") == "mode" for t, a in page.tags)
    assert "Find the trope" in html
    assert any(link["href"].startswith("/?q=") for link in page.links)  # example queries
    assert 'class="result"' not in html


def test_blank_query_is_the_empty_state(client):
    html, _ = get_page(client, "/", q="   ")
    assert "Find the trope" in html


def test_results_page(client):
    html, page = get_page(client, "/", q="aliens seduce humans")
    titles = page.links_with("trope-link")
    assert titles and titles[0]["text"] == "Boldly Coming"
    assert "<mark>" in html
    more = page.links_with("more-like-this")
    assert more and all(link["href"].startswith("/similar/") for link in more)
    assert any(link["href"] == "/tropes/BoldlyComing" for link in page.links)
    assert 'class="badge kind kind-' in html
    assert re.search(r'<option value="hybrid" selected>', html)
    assert "matching trope" in html  # grouped by trope by default
    html, _ = get_page(client, "/", q="aliens seduce humans", group="passage", kind="example")
    assert 'class="badge media"' in html and 'class="badge work"' in html


def test_page_groups_by_trope_by_default_with_a_toggle(client, tiny_version):
    html, page = get_page(client, "/", q="love")
    tropes = [link["text"] for link in page.links_with("trope-link")]
    assert len(tropes) == len(set(tropes))
    toggle = [link for link in page.links if link["text"] == "All passages"]
    assert toggle and args_of(toggle[0]["href"])["group"] == ["passage"]
    html2, page2 = get_page(client, toggle[0]["href"])
    assert "matching passage" in html2
    total = client.get("/api/search", query_string={"q": "love", "group": "passage"}).get_json()["total"]
    assert len(page2.links_with("trope-link")) == min(10, total) > 0
    back = [link for link in page2.links if link["text"] == "By trope"]
    assert args_of(back[0]["href"])["group"] == ["trope"]


def test_mode_selector(client):
    html, page = get_page(client, "/", q="alien", mode="lexical")
    assert re.search(r'<option value="lexical" selected>', html)
    html, _ = get_page(client, "/", q="alien", mode="dense")
    assert re.search(r'<option value="dense" selected>', html)


def test_media_facets_filter_and_toggle(client):
    html, page = get_page(client, "/", q="an alien romance", group="passage")
    facets = page.links_with("facet")
    assert facets, "media facets expected"
    counts = re.findall(r'<span class="facet-name">([^<]+)</span><span class="count">(\d+)</span>', html)
    assert counts and all(int(n) > 0 for _, n in counts)
    media_name = unescape(counts[0][0])
    first = facets[0]
    assert args_of(first["href"])["media"] == [media_name]
    assert "offset" not in args_of(first["href"])
    html2, page2 = get_page(client, first["href"])
    badges = [unescape(m) for m in re.findall(r'<span class="badge media">([^<]+)</span>', html2)]
    assert badges and set(badges) == {media_name}
    active = page2.links_with("active")
    assert any(link["href"] and "media" not in args_of(link["href"]) for link in active if "facet" in link["class"])
    # facets keep the other facets available (counts are for the query without its media filter)
    assert len(page2.links_with("facet")) == len(facets)


def test_facet_counts_are_passage_counts_in_both_groupings(client):
    api = client.get("/api/search", query_string={"q": "an alien romance", "facets": "1"}).get_json()["facets"]["media"]
    for group in ("trope", "passage"):
        html, _ = get_page(client, "/", q="an alien romance", group=group)
        counts = re.findall(r'<span class="facet-name">([^<]+)</span><span class="count">(\d+)</span>', html)
        assert {unescape(m): int(n) for m, n in counts} == api


def test_paging_prev_next(client):
    html, page = get_page(client, "/", q="an alien romance", group="passage", mode="dense")
    first_ids = result_ids(html)
    assert len(first_ids) == 10
    nxt = [link for link in page.links if "next" in link["class"]]
    assert nxt and args_of(nxt[0]["href"])["offset"] == ["10"]
    html2, page2 = get_page(client, nxt[0]["href"])
    second_ids = result_ids(html2)
    assert second_ids and not set(first_ids) & set(second_ids)
    assert "Page 2 of" in html2
    prev = [link for link in page2.links if "prev" in link["class"]]
    assert prev and args_of(prev[0]["href"])["offset"] == ["0"]
    assert result_ids(get_page(client, prev[0]["href"])[0]) == first_ids


def test_did_you_mean_a_trope(client):
    html, page = get_page(client, "/", q="boldly coming")
    assert "Did you mean the trope" in html
    assert any(link["href"] == "/tropes/BoldlyComing" and link["text"] == "Boldly Coming" for link in page.links)
    html, _ = get_page(client, "/", q="aliens seduce humans")
    assert "Did you mean" not in html


def test_no_results_state(client):
    html, _ = get_page(client, "/", q="qwxzvbnm", mode="lexical")
    assert "No matches for" in html and "qwxzvbnm" in html
    assert 'class="result"' not in html


def test_bad_parameters_render_a_400_page(client):
    html, _ = get_page(client, "/", status=400, q="a", k="0")
    assert "Cannot search" in html and "k must be" in html
    html, _ = get_page(client, "/", status=400, q="x" * 1001)
    assert "too long" in html


# -- trope view and more like this -------------------------------------------------------------------------
def test_trope_view(client):
    html, page = get_page(client, "/tropes/BoldlyComing")
    assert "<h1>Boldly Coming</h1>" in html
    assert "Captain Kirk" in html  # description text
    assert any("trope=BoldlyComing" in (link["href"] or "") for link in page.links)


def test_unknown_trope_is_a_404_page(client):
    html, _ = get_page(client, "/tropes/NoSuchTrope", status=404)
    assert "Not found" in html and "NoSuchTrope" in html


def test_more_like_this_page(client):
    html, page = get_page(client, "/", q="aliens seduce humans")
    href = page.links_with("more-like-this")[0]["href"]
    source_id = href.rsplit("/", 1)[-1]
    html2, page2 = get_page(client, href)
    assert "More like this passage" in html2
    ids = result_ids(html2)
    assert ids and source_id not in ids
    scopes = [link for link in page2.links if link["text"] in ("Anywhere", "Same trope", "Other tropes")]
    assert len(scopes) == 3
    same = next(link for link in scopes if link["text"] == "Same trope")
    html3, page3 = get_page(client, same["href"])
    assert {link["text"] for link in page3.links_with("trope-link")} == {"Boldly Coming"}


def test_more_like_this_unknown_passage(client):
    get_page(client, "/similar/nope0000", status=404)
    get_page(client, "/similar/x", status=400, scope="wrong")


def test_unknown_page_is_html_404(client):
    html, _ = get_page(client, "/no/such/page", status=404)
    assert "Not found" in html


# -- safety ---------------------------------------------------------------------------------------------------
def assert_no_active_content(html):
    """Only the static script, no inline script/style/handlers."""
    page = Page(html)
    for tag, attrs in page.tags:
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        assert "style" not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action"):
            assert not (attrs.get(name) or "").lower().lstrip().startswith("javascript:"), (tag, attrs)
    assert "<style" not in html


def test_script_in_the_query_renders_as_text(client):
    q = "<script>alert('x')</script> aliens"
    html, _ = get_page(client, "/", q=q)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(" in html
    assert_no_active_content(html)
    html, _ = get_page(client, "/", q="<img src=x onerror=alert(1)>", mode="lexical")
    assert "<img src=x" not in html
    assert_no_active_content(html)


@pytest.fixture(scope="module")
def xss_client(xss_index_dir, encoder):
    app_ = make_app(xss_index_dir, encoder, RELOAD_INTERVAL=0)
    yield app_.test_client()
    app_.extensions["tropesearch"].close()


def test_script_in_the_corpus_renders_as_text(xss_client):
    html, page = get_page(xss_client, "/", q="evil hackers inject scripts into web pages", group="passage")
    assert "Evil &lt;b&gt;Bold&lt;/b&gt; Trope" in html and XSS_TITLE not in html
    assert "<script>alert" not in html and re.search(r"&lt;(<mark>)?script", html)
    assert "<i>Hackers" not in html and "&lt;i&gt;Hackers" in html
    assert "<img src=x" not in html
    assert_no_active_content(html)
    # the title links to the local view, never to the javascript: url of the record
    evil = [link for link in page.links_with("trope-link") if "Evil" in link["text"]]
    assert evil and evil[0]["href"] == "/tropes/EvilScriptTrope"
    html, _ = get_page(xss_client, "/tropes/EvilScriptTrope")
    assert XSS_TITLE not in html and "<script>alert" not in html
    assert_no_active_content(html)
    pid = re.findall(r'href="/similar/([^"]+)"', get_page(xss_client, "/", q="evil hackers", trope="EvilScriptTrope",
                                                          group="passage")[0])[0]
    html, _ = get_page(xss_client, f"/similar/{pid}")
    assert "<script>alert" not in html
    assert_no_active_content(html)


def test_script_in_the_corpus_is_escaped_in_json_snippets(xss_client):
    body = xss_client.get("/api/search", query_string={"q": "evil hackers inject scripts", "trope": "EvilScriptTrope"}).get_json()
    assert body["results"]
    for r in body["results"]:
        assert "<script" not in r["snippet"] and "<img" not in r["snippet"]
        assert "&lt;" in r["snippet"] and "&gt;" in r["snippet"]
    assert any("<script>" in r["text"] for r in body["results"])  # text is data; the snippet is HTML


@pytest.mark.parametrize("url,expected", [
    ("https://tvtropes.org/pmwiki/pmwiki.php/Main/X", "https://tvtropes.org/pmwiki/pmwiki.php/Main/X"),
    ("http://example.org/a", "http://example.org/a"),
    ("javascript:alert(1)", None), (" JavaScript:alert(1)", None), ("data:text/html,<script>", None),
    ("//evil.example/x", None), ("/relative", None), ("", None), (None, None), ("https://", None),
])
def test_only_http_urls_become_links(url, expected):
    from searchsvc.pages import safe_url

    assert safe_url(url) == expected


def test_pages_have_no_inline_scripts_or_styles(client):
    for url in ("/", "/?q=aliens+seduce+humans", "/tropes/BoldlyComing", "/nope"):
        resp = client.get(url)
        assert_no_active_content(resp.get_data(as_text=True))


def test_static_assets_are_local(client):
    html, page = get_page(client, "/")
    for tag, attrs in page.tags:
        if tag in ("link", "script", "img"):
            assert (attrs.get("src") or attrs.get("href") or "").startswith("/static/"), (tag, attrs)
    for asset in ("/static/style.css", "/static/app.js", "/static/favicon.svg"):
        with client.get(asset) as resp:
            assert resp.status_code == 200
