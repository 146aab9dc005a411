"""XSS in a real browser: corpus text and queries carrying `<script>`, `"><img onerror>` and
`javascript:` links render as inert text (headless Debian chromium, Selenium).

A tiny index gets one JSONL trope and one markdown page whose title, url, description, media,
work and example text hold the payloads (every payload sets `window.__xss`). The pages that show
them (search results in both groupings and modes, the trope page, "more like this", the error
pages, the JSON API opened as a document) are loaded twice: as served (CSP on) and with CSP
bypassed through the DevTools protocol, so escaping alone, not only the policy, keeps them inert.
On each: `window.__xss` is undefined, no element carries an event-handler attribute, no link is a
`javascript:` URL, the only script is /static/app.js, the payload shows literally as text, and
the browser logged no CSP violation (nothing even tried to run). Responses carry the CSP and
`X-Content-Type-Options: nosniff`.

Needs `apt-get install chromium chromium-driver` and `pip install selenium`; skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from searchsvc.app import CONTENT_SECURITY_POLICY
from svc_fixtures import copy_version, make_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow

SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=2">'
JS_LINK = '<a href="javascript:window.__xss=3">click me</a>'
JS_URL = "javascript:window.__xss=4"
SVG = "<svg onload=window.__xss=5>"
PAYLOAD = f"{SCRIPT} {IMG} {JS_LINK} {JS_URL} {SVG}"
TITLE = f'Xenoscript Trope {IMG}'


def write_xss_sources(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "trope_id": "XenoscriptTrope", "title": TITLE, "url": JS_URL,
        "description": f"Xenoscript villains hide markup in plain sight. {PAYLOAD}\n\nSecond paragraph: {SCRIPT}",
        "examples": [
            {"media": IMG, "work": SCRIPT, "text": f"The xenoscript hacker types {PAYLOAD} and laughs."},
            {"media": "Film", "work": f"Hackers {IMG}", "text": f"A xenoscript worm spreads {IMG} {JS_LINK}."},
        ],
    }
    jsonl = folder / "xenoscript.jsonl"
    jsonl.write_text(json.dumps(record) + "\n", encoding="utf-8")
    md_dir = folder / "md"
    md_dir.mkdir()
    # markdown entities decode to the literal markup; the [text](javascript:) link becomes a related link
    entity = PAYLOAD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    (md_dir / "200_xeno.md").write_text(
        f"A second xenoscript page. {entity} See [the xenoscript link]({JS_URL}) too.\n\n___\n\n## Examples:\n\n"
        f"    Film \n\n-   _Xenoscript {entity}_: {entity} in a xenoscript example.\n", encoding="utf-8")
    (md_dir / "manifest.json").write_text(json.dumps(
        {"200_xeno.md": {"trope_id": "XenoscriptToo", "title": f"Xenoscript Too {SCRIPT}"}}), encoding="utf-8")
    return [jsonl, md_dir]


@pytest.fixture(scope="module")
def xss_index(tmp_path_factory, tiny_index_dir, tiny_sources, encoder) -> Path:
    from indexer.build import BuildOptions, build_index
    from indexer.storage import load_version

    root = tmp_path_factory.mktemp("xss-browser")
    index_dir = root / "index"
    copy_version(tiny_index_dir, index_dir)          # the embedding cache: only the new pages are encoded
    sources = write_xss_sources(root / "src")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("indexer.encoding.load_encoder", lambda *a, **k: encoder)
        build_index(BuildOptions(sources=[*tiny_sources, *sources], index_dir=index_dir, backend="torch"))
    version = load_version(index_dir)
    conn = version.connect()
    try:
        texts = [r[0] for r in conn.execute("SELECT text FROM passages WHERE trope_id LIKE 'Xenoscript%'")]
    finally:
        conn.close()
    assert any(SCRIPT in t for t in texts) and any(IMG in t for t in texts), texts
    return index_dir


@pytest.fixture(scope="module")
def server(xss_index, encoder):
    from werkzeug.serving import make_server

    app = make_app(xss_index, encoder, RELOAD_INTERVAL=0)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    srv.server_close()
    thread.join(10)
    app.extensions["tropesearch"].close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: apt-get install chromium chromium-driver")
    if not Path(CHROMEDRIVER).exists():
        pytest.skip("chromedriver is missing: apt-get install chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile-xss')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


# what a page must (not) contain once loaded
INERT_JS = """
const origin = location.origin;
const bad = [];
if (window.__xss !== undefined) bad.push('window.__xss = ' + window.__xss);
for (const el of document.querySelectorAll('*')) {
  for (const attr of el.attributes) {
    if (/^on/i.test(attr.name)) bad.push('event handler ' + el.tagName + ' ' + attr.name);
    if (/^\\s*javascript:/i.test(attr.value)) bad.push('javascript: in ' + el.tagName + ' ' + attr.name);
  }
}
for (const s of document.scripts) {
  if (!s.src || !s.src.startsWith(origin + '/static/')) bad.push('script ' + (s.src || s.textContent.slice(0, 60)));
}
for (const img of document.images) bad.push('img ' + img.getAttribute('src'));
for (const el of document.querySelectorAll('svg, iframe, object, embed')) bad.push('element ' + el.tagName);
return bad;
"""


def pages(server: str, passage_id: str) -> dict[str, str]:
    q = quote(f"xenoscript {PAYLOAD}", safe="")
    return {
        "search by trope": f"{server}/?q={q}",
        "search passages lexical": f"{server}/?q={q}&group=passage&mode=lexical",
        "search passages dense": f"{server}/?q={q}&group=passage&mode=dense&facets=1",
        "search filtered": f"{server}/?q=xenoscript&group=passage&trope=XenoscriptTrope&media={quote(IMG, safe='')}",
        "trope page": f"{server}/tropes/XenoscriptTrope",
        "markdown trope page": f"{server}/tropes/XenoscriptToo",
        "more like this": f"{server}/similar/{passage_id}",
        "error page (400)": f"{server}/?q={q}&k=0",
        "error page (404)": f"{server}/tropes/{quote(PAYLOAD, safe='')}",
        "api as a document": f"{server}/api/search?q={q}",
    }


@pytest.fixture(scope="module")
def xss_passage(server) -> str:
    with urllib.request.urlopen(f"{server}/api/search?q=xenoscript+hacker&group=passage&mode=lexical") as resp:
        results = json.load(resp)["results"]
    hits = [r for r in results if r["trope"]["id"] == "XenoscriptTrope" and SCRIPT in r["text"]]
    assert hits, results
    return hits[0]["id"]


def csp_messages(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser")
            if "Content Security Policy" in e.get("message", "") or "Refused to" in e.get("message", "")]


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["csp-on", "csp-bypassed"])
def test_payloads_render_inert(server, browser, xss_passage, bypass_csp):
    browser.execute_cdp_cmd("Page.setBypassCSP", {"enabled": bypass_csp})
    browser.get_log("browser")  # drop earlier entries
    problems = {}
    for name, url in pages(server, xss_passage).items():
        browser.get(url)
        bad = browser.execute_script(INERT_JS)
        text = browser.execute_script("return document.body.innerText")
        if name.startswith("search") or "trope page" in name or name == "more like this":
            shown = [p for p in (SCRIPT, IMG, JS_URL) if p in text]
            if not shown:
                bad.append("the payload is not shown as text")
        if name == "api as a document":
            assert json.loads(text)["results"], "the API answered without results"
        violations = csp_messages(browser)
        if violations:
            bad.append(f"CSP violations (markup reached the DOM and tried to run): {violations[:3]}")
        if bad:
            problems[name] = bad
    browser.execute_cdp_cmd("Page.setBypassCSP", {"enabled": False})
    assert not problems, json.dumps(problems, indent=1)


def test_the_query_box_keeps_the_payload_as_its_value(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/?q={quote(PAYLOAD, safe='')}")
    assert browser.find_element(By.ID, "q").get_attribute("value") == PAYLOAD
    assert browser.execute_script("return window.__xss === undefined")


@pytest.mark.parametrize("path", ["/", "/?q=xenoscript", "/tropes/XenoscriptTrope", "/api/search?q=xenoscript",
                                  "/tropes/nope", "/?q=x&k=0", "/static/app.js", "/readyz"])
def test_security_headers_on_the_served_pages(server, path):
    try:
        resp = urllib.request.urlopen(server + path)
    except urllib.error.HTTPError as err:
        resp = err
    with resp:
        resp.read()   # the whole body, so the server finishes (and closes) the response
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
