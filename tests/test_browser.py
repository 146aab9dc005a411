"""The page in a real browser: headless Debian chromium driven by Selenium against a real server.

Needs `apt-get install chromium chromium-driver` and `pip install selenium`; skipped otherwise.
Saves a screenshot of a results page to /tmp/tropesearch-page.png.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from svc_fixtures import make_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path("/tmp/tropesearch-page.png")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_index_dir, encoder):
    from werkzeug.serving import make_server

    app = make_app(tiny_index_dir, encoder, RELOAD_INTERVAL=0)
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
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def csp_violations(driver):
    return [entry for entry in driver.get_log("browser")
            if "Content Security Policy" in entry.get("message", "") or "Refused to" in entry.get("message", "")]


def test_search_more_like_this_and_facets(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("aliens seduce humans")
    box.send_keys(Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "article.result"))
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.result .trope-link")]
    assert titles[0] == "Boldly Coming"
    assert browser.find_elements(By.CSS_SELECTOR, "article.result mark")
    # the stylesheet applied (cards have a border radius), i.e. CSP let the local CSS through
    radius = browser.find_element(By.CSS_SELECTOR, "article.result").value_of_css_property("border-top-left-radius")
    assert radius == "12px"

    # all passages, then a media filter
    browser.find_element(By.LINK_TEXT, "All passages").click()
    wait(browser, lambda d: "group=passage" in d.current_url)
    facet = browser.find_elements(By.CSS_SELECTOR, "a.facet")[0]
    media = facet.find_element(By.CSS_SELECTOR, ".facet-name").text
    browser.save_screenshot(str(SCREENSHOT))
    facet.click()
    wait(browser, lambda d: "media=" in d.current_url)
    badges = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.result .badge.media")}
    assert badges == {media}
    active = browser.find_element(By.CSS_SELECTOR, "a.facet.active .facet-name").text
    assert active == media

    # more like this
    first = browser.find_element(By.CSS_SELECTOR, "article.result")
    source_id = first.get_attribute("id")[2:]
    first.find_element(By.CSS_SELECTOR, "a.more-like-this").click()
    wait(browser, lambda d: "/similar/" in d.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "More like this passage"
    ids = [e.get_attribute("id")[2:] for e in browser.find_elements(By.CSS_SELECTOR, "section.results article.result")]
    assert ids and source_id not in ids
    assert not csp_violations(browser)


def test_mode_selector_submits_with_javascript(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server + "/?q=alien+love")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "article.result"))
    Select(browser.find_element(By.ID, "mode")).select_by_value("lexical")
    wait(browser, lambda d: "mode=lexical" in d.current_url)
    assert Select(browser.find_element(By.ID, "mode")).first_selected_option.get_attribute("value") == "lexical"
    assert not csp_violations(browser)


def test_script_in_query_is_inert(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server + "/?q=%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E+%3Cimg+src%3Dx+onerror%3D%22window.pwned%3D2%22%3E")
    wait(browser, lambda d: d.find_elements(By.ID, "q"))
    assert browser.execute_script("return window.pwned === undefined")
    assert "<script>" in browser.find_element(By.ID, "q").get_attribute("value")
