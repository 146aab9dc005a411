"""Tests of the ONNX Runtime backend: export, int8 quantization, fidelity to torch, no torch at query time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import Encoder, load_encoder, model_fingerprint
from embeddings.onnx_backend import (
    FP32_NAME,
    ONNX_DIR_ENV,
    OnnxEncoder,
    default_onnx_dir,
    ensure_onnx_model,
    int8_file_name,
    pool,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "tropes.jsonl"


def sample_passages(limit: int = 50) -> list[str]:
    """Sentences of the sample trope descriptions."""
    out: list[str] = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        description = json.loads(line).get("description") or ""
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", description) if len(s.split()) >= 3)
    return out[:limit]


# -- fast: no export ------------------------------------------------------------------------


def test_default_onnx_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ONNX_DIR_ENV, str(tmp_path / "x"))
    assert default_onnx_dir() == tmp_path / "x"
    monkeypatch.delenv(ONNX_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_onnx_dir() == tmp_path / "xdg" / "tropesearch" / "onnx"


def test_int8_file_name_records_settings() -> None:
    assert int8_file_name({"per_channel": True, "reduce_range": False}) == "model.int8-pc.onnx"
    assert int8_file_name({"per_channel": True, "reduce_range": True}) == "model.int8-pc-rr.onnx"
    assert int8_file_name({"per_channel": False, "reduce_range": False, "op_types_to_quantize": ["MatMul"]}) == (
        "model.int8-matmul.onnx"
    )


def test_pooling_respects_the_mask() -> None:
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pool(hidden, mask, "mean_tokens"), [[2.0, 3.0]])
    np.testing.assert_allclose(pool(hidden, mask, "cls_token"), [[1.0, 2.0]])
    np.testing.assert_allclose(pool(hidden, mask, "max_tokens"), [[3.0, 4.0]])
    np.testing.assert_allclose(pool(hidden, mask, "mean_sqrt_len_tokens"), [[4.0 / 2**0.5, 6.0 / 2**0.5]])


# -- slow: a real export and quantization ---------------------------------------------------


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ONNX cache holding the bundled model's fp32 export and int8 quantization."""
    root = tmp_path_factory.mktemp("onnx-cache")
    ensure_onnx_model(None, quantized=True, cache_dir=root)
    return root


@pytest.fixture(scope="module")
def onnx_encoder(onnx_dir: Path) -> Encoder:
    return load_encoder(backend="onnx", onnx_dir=onnx_dir)


@pytest.fixture(scope="module")
def int8_encoder(onnx_dir: Path) -> Encoder:
    return load_encoder(backend="onnx-int8", onnx_dir=onnx_dir)


@pytest.fixture(scope="module")
def torch_vectors(encoder: Encoder) -> np.ndarray:
    return encoder.encode(sample_passages())


@pytest.mark.slow
def test_export_layout_and_idempotence(onnx_dir: Path) -> None:
    folder = onnx_dir / model_fingerprint()
    fp32, int8 = folder / FP32_NAME, folder / int8_file_name()
    assert fp32.is_file() and int8.is_file()
    assert int8.stat().st_size < fp32.stat().st_size / 2
    # written atomically, and the quantizer's shape-inferred copy and work folder are gone
    assert sorted(p.name for p in folder.iterdir()) == sorted([FP32_NAME, int8_file_name(), "meta.json"])
    mtimes = fp32.stat().st_mtime_ns, int8.stat().st_mtime_ns
    assert ensure_onnx_model(None, quantized=True, cache_dir=onnx_dir) == int8
    assert ensure_onnx_model(None, quantized=False, cache_dir=onnx_dir) == fp32
    assert (fp32.stat().st_mtime_ns, int8.stat().st_mtime_ns) == mtimes  # not redone


@pytest.mark.slow
def test_env_var_selects_the_cache(onnx_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ONNX_DIR_ENV, str(onnx_dir))
    assert ensure_onnx_model(None, quantized=False) == onnx_dir / model_fingerprint() / FP32_NAME


@pytest.mark.slow
def test_onnx_encoder_attributes(onnx_encoder: Encoder, int8_encoder: Encoder, encoder: Encoder) -> None:
    assert isinstance(onnx_encoder, OnnxEncoder)
    assert (onnx_encoder.backend, int8_encoder.backend) == ("onnx", "onnx-int8")
    for enc in (onnx_encoder, int8_encoder):
        assert enc.fingerprint == encoder.fingerprint  # same weights; backend recorded apart
        assert (enc.name, enc.dim, enc.max_tokens) == (encoder.name, 384, 256)
    assert onnx_encoder.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_fp32_matches_torch(onnx_encoder: Encoder, torch_vectors: np.ndarray) -> None:
    vectors = onnx_encoder.encode(sample_passages(), batch_size=16)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cos = (vectors * torch_vectors).sum(axis=1)
    assert len(cos) == 50
    assert cos.min() >= 0.99


@pytest.mark.slow
def test_fp32_truncates_like_torch(onnx_encoder: Encoder, encoder: Encoder) -> None:
    long_text = " ".join(sample_passages(40))  # well over 256 tokens
    assert float(onnx_encoder.encode([long_text])[0] @ encoder.encode([long_text])[0]) >= 0.99


@pytest.mark.slow
def test_int8_close_to_torch(
    int8_encoder: Encoder, torch_vectors: np.ndarray, record_property: pytest.RecordProperty
) -> None:
    cos = (int8_encoder.encode(sample_passages()) * torch_vectors).sum(axis=1)
    record_property("int8_cosine_mean", round(float(cos.mean()), 4))
    record_property("int8_cosine_min", round(float(cos.min()), 4))
    print(f"int8 vs torch cosine over {len(cos)} passages: mean {cos.mean():.4f}, min {cos.min():.4f}")
    assert cos.mean() >= 0.98


@pytest.mark.slow
def test_onnx_query_path_does_not_import_torch(onnx_dir: Path) -> None:
    code = (
        "import json, sys\n"
        "from embeddings import load_encoder\n"
        "out = {}\n"
        "for backend in ('onnx', 'onnx-int8'):\n"
        f"    enc = load_encoder(backend=backend, onnx_dir={str(onnx_dir)!r})\n"
        "    out[backend] = enc.encode(['aliens seduce humans']).shape[1]\n"
        "out['heavy'] = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"onnx": 384, "onnx-int8": 384, "heavy": []}
