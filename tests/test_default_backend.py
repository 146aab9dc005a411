"""The embedding paths: indexes are built in fp32 by default or by the int8 ONNX model on request,
queries pick the backend that agrees with the published index ("auto"), and vectors of different
quantizations never mix."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from embeddings.compat import DEFAULT_BACKEND, backends_compatible, embedding_space, query_backend_for
from embeddings.onnx_backend import default_quantize_options, int8_file_name
from indexer.errors import IndexMismatchError
from indexer.storage import (
    MANIFEST_FILE,
    check_manifest,
    current_version_id,
    index_embedding_space,
    load_version,
    resolve_query_backend,
    versions_dir,
)
from tropesearch_cli.main import cli

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "data" / "sample" / "seeds"


def test_embedding_spaces():
    assert DEFAULT_BACKEND == "torch"
    assert embedding_space("torch") == "torch" and embedding_space("onnx") == "onnx"
    # one int8 model on every CPU: 7-bit weights, so no CPU saturates and all compute the same
    assert default_quantize_options()["reduce_range"] is True
    assert embedding_space("onnx-int8") == "onnx-int8:" + int8_file_name()[len("model.int8-"):-len(".onnx")]
    assert backends_compatible("torch", "onnx") and backends_compatible("onnx", "torch")
    assert backends_compatible(embedding_space("onnx-int8"), "onnx-int8")
    assert not backends_compatible(embedding_space("onnx-int8"), "onnx")
    assert not backends_compatible("onnx-int8:pc", "onnx-int8")        # another quantization
    assert [query_backend_for(b) for b in ("torch", "onnx", embedding_space("onnx-int8"))] == [
        "onnx", "onnx", "onnx-int8"]


def test_an_int8_index_of_unknown_quantization_matches_nothing():
    legacy = {"model": {"backend": "onnx-int8"}}   # written before spaces were recorded
    assert index_embedding_space(legacy) == "onnx-int8:unknown"
    assert index_embedding_space({"model": {"backend": "torch"}}) == "torch"


def test_auto_backend_follows_the_published_index(tiny_index_dir, tmp_path):
    assert resolve_query_backend("torch", tiny_index_dir) == "torch"      # asked for: kept
    assert resolve_query_backend("auto", tiny_index_dir) == "onnx"        # a torch index: fp32 ONNX queries
    assert resolve_query_backend("auto", tmp_path / "nothing-here") == query_backend_for(DEFAULT_BACKEND)


def test_other_quantization_is_refused_with_a_rebuild_hint(tiny_version):
    manifest = json.loads(json.dumps(tiny_version.manifest))
    manifest["model"].update(backend="onnx-int8", space="onnx-int8:pc")
    with pytest.raises(IndexMismatchError, match="other int8 quantization settings.*tropesearch build"):
        check_manifest(manifest, tiny_version.path, query_backend="onnx-int8")
    with pytest.raises(IndexMismatchError, match="--backend onnx-int8"):
        check_manifest(manifest, tiny_version.path, query_backend="onnx")


@pytest.mark.slow
@pytest.mark.parametrize("backend,query_backend", [(None, "onnx"), ("onnx-int8", "onnx-int8")])
def test_build_and_auto_query_backend_end_to_end(tmp_path, backend, query_backend):
    """What `make run` does (the defaults), and the same with the int8 model, on the seed pages:
    build, then serve with BACKEND auto, which picks the query model that agrees with the index."""
    from searchsvc.app import create_app

    index_dir = tmp_path / "index"
    args = ["build", str(SEEDS), "--index-dir", str(index_dir), "-q", "--json"]
    result = CliRunner().invoke(cli, args + (["--backend", backend] if backend else []), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((versions_dir(index_dir) / current_version_id(index_dir) / MANIFEST_FILE).read_text())
    built_by = backend or DEFAULT_BACKEND
    assert manifest["model"]["backend"] == built_by
    assert manifest["model"]["space"] == embedding_space(built_by)
    assert load_version(index_dir, query_backend=query_backend).count == manifest["counts"]["passages"]

    app = create_app({"INDEX_DIR": str(index_dir), "RELOAD_INTERVAL": 0, "TESTING": True})
    try:
        holder = app.extensions["tropesearch"]
        assert holder.encoder.backend == query_backend
        client = app.test_client()
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        body = client.get("/api/search?q=aliens+seduce+humans").get_json()
        assert body["results"][0]["trope"]["title"] == "Boldly Coming", body["results"][:3]
    finally:
        app.extensions["tropesearch"].close()
