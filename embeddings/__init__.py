"""Embedding models for tropesearch: locating the model offline, counting tokens, encoding text.

Importing this package is cheap: torch, transformers, sentence-transformers and onnxruntime are
imported only when an encoder (or token counter) is created. Importing it does set
``HF_HUB_OFFLINE=1`` and ``TRANSFORMERS_OFFLINE=1`` unless the environment already sets them,
so the Hugging Face libraries never try the network.

Public API::

    resolve_model_path(path=None) -> Path
    model_fingerprint(path=None) -> str
    TokenCounter(model_path=None).count(texts) -> list[int]; .max_tokens
    load_encoder(model_path=None, backend="torch", threads=None, *, onnx_dir=None) -> Encoder
    Encoder.encode(texts, batch_size=64, progress=None) -> np.ndarray  # float32, unit rows
    ensure_onnx_model(model_path, quantized, cache_dir=None) -> Path
    EmbeddingCache(path); text_hash(text); encode_with_cache(encoder, texts, cache, ...)

This package imports nothing from ``indexer`` or ``searchsvc``.
"""

from __future__ import annotations

from .cache import EmbeddingCache, encode_with_cache, text_hash
from .encoder import BACKENDS, Encoder, TorchEncoder, l2_normalize, load_encoder
from .errors import (
    EmbeddingsError,
    ModelNotFoundError,
    OnnxExportError,
    UnknownBackendError,
    UnsupportedModelError,
)
from .model import bundled_model_path, ensure_offline, model_fingerprint, resolve_model_path
from .onnx_backend import OnnxEncoder, default_onnx_dir, ensure_onnx_model
from .tokens import TokenCounter

__all__ = [
    "BACKENDS",
    "EmbeddingCache",
    "EmbeddingsError",
    "Encoder",
    "ModelNotFoundError",
    "OnnxEncoder",
    "OnnxExportError",
    "TokenCounter",
    "TorchEncoder",
    "UnknownBackendError",
    "UnsupportedModelError",
    "bundled_model_path",
    "default_onnx_dir",
    "encode_with_cache",
    "ensure_offline",
    "ensure_onnx_model",
    "l2_normalize",
    "load_encoder",
    "model_fingerprint",
    "resolve_model_path",
    "text_hash",
]
