"""Fixtures of the search-service tests (imported by test_api / test_page / test_live_swap ...).

`app` is built on the session's tiny index with the session's encoder (no second model load);
`index_copy` is a private copy of the tiny index a test may publish new versions into.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.storage import CURRENT_NAME, current_version_id, publish_version, versions_dir
from searchsvc.app import create_app

XSS_TITLE = "Evil <b>Bold</b> Trope"
XSS_TEXT = "A villain types <script>alert('pwned')</script> into the console & laughs; \"quotes\" and <img src=x onerror=alert(2)>."


def make_app(index_dir: Path, encoder, **config):
    settings = {"INDEX_DIR": str(index_dir), "RELOAD_INTERVAL": 0.2, "ENCODER": encoder, "TESTING": True}
    settings.update(config)
    return create_app(settings)


@pytest.fixture(scope="module")
def app(tiny_index_dir, encoder):
    app = make_app(tiny_index_dir, encoder)
    yield app
    app.extensions["tropesearch"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def copy_version(src_index: Path, dst_index: Path, version_id: str | None = None, publish: bool = True) -> str:
    """Copy a published version (and the embedding cache) of one index dir into another."""
    version_id = version_id or current_version_id(src_index)
    versions_dir(dst_index).mkdir(parents=True, exist_ok=True)
    shutil.copytree(versions_dir(src_index) / version_id, versions_dir(dst_index) / version_id)
    if (src_index / "cache").is_dir() and not (dst_index / "cache").exists():
        shutil.copytree(src_index / "cache", dst_index / "cache")
    if publish:
        publish_version(dst_index, version_id)
    return version_id


@pytest.fixture
def index_copy(tmp_path, tiny_index_dir) -> Path:
    """A private index dir holding a copy of the tiny index's published version (and its cache)."""
    dst = tmp_path / "index"
    copy_version(tiny_index_dir, dst)
    return dst


def write_xss_source(folder: Path) -> Path:
    """A markdown page (+ manifest) whose title, text and work carry HTML and <script>: the text is
    written with entities, which the parser decodes, so the passages hold the literal markup."""
    folder.mkdir(parents=True, exist_ok=True)
    entity = XSS_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    page = (
        f'_"{entity}"_\n\n{entity} Evil hackers inject scripts into web pages.\n\n___\n\n## Examples:\n\n'
        f"    Film \n\n-   _&lt;i&gt;Hackers&lt;/i&gt;_: {entity}\n"
    )
    (folder / "100_evil.md").write_text(page, encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps(
        {"100_evil.md": {"trope_id": "EvilScriptTrope", "title": XSS_TITLE}}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def xss_index_dir(tmp_path_factory, tiny_index_dir, tiny_sources, encoder) -> Path:
    """The tiny index plus a trope whose title/text hold <script> (built with the session encoder)."""
    from indexer.build import BuildOptions, build_index

    root = tmp_path_factory.mktemp("xss-index")
    index_dir = root / "index"
    copy_version(tiny_index_dir, index_dir)   # brings the embedding cache: only the new trope is encoded
    source = write_xss_source(root / "src")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("indexer.encoding.load_encoder", lambda *a, **k: encoder)
        build_index(BuildOptions(sources=[*tiny_sources, source], index_dir=index_dir, backend="torch"))
    from indexer.storage import load_version

    with load_version(index_dir).connect() as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM passages WHERE trope_id = 'EvilScriptTrope'")]
    assert any("<script>" in t for t in texts), f"the XSS page did not index as expected: {texts}"
    return index_dir


__all__ = ["app", "client", "runner", "index_copy", "make_app", "copy_version", "xss_index_dir",
           "write_xss_source", "XSS_TITLE", "XSS_TEXT", "CURRENT_NAME"]
