"""The :class:`Encoder` interface, its sentence-transformers (torch) backend, and :func:`load_encoder`.

Every backend returns float32 ``(n, dim)`` arrays of L2-normalized rows, so an inner product
between two rows is their cosine similarity. Texts are encoded in length-sorted batches (less
padding per batch), and the rows come back in the caller's order.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UnknownBackendError
from .model import (
    embedding_dim,
    ensure_offline,
    max_seq_length,
    model_fingerprint,
    model_name,
    quiet_transformers_loading,
    resolve_model_path,
)

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
"""Backend names :func:`load_encoder` accepts."""

ProgressCallback = Callable[[int], None]


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (all-zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return (vectors / norms).astype(np.float32, copy=False)


class Encoder(abc.ABC):
    """Turns texts into unit-length embedding vectors.

    Attributes:
        name: model name, e.g. ``"all-MiniLM-L6-v2"``.
        path: the model directory.
        dim: embedding dimension (384).
        fingerprint: :func:`embeddings.model_fingerprint` of the weights; the same for every
            backend of one model (the backend is recorded separately).
        backend: ``"torch"``, ``"onnx"`` or ``"onnx-int8"``.
        max_tokens: the model's input limit in tokens, special tokens included; longer
            inputs are truncated.
    """

    name: str
    path: Path
    dim: int
    fingerprint: str
    backend: str
    max_tokens: int

    def __init__(self, path: Path, backend: str) -> None:
        self.path = path
        self.backend = backend
        self.name = model_name(path)
        self.fingerprint = model_fingerprint(path)
        self.max_tokens = max_seq_length(path)
        self.dim = embedding_dim(path)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Embed ``texts``: a float32 ``(len(texts), dim)`` array of L2-normalized rows.

        Texts are sorted by length and encoded ``batch_size`` at a time; ``progress`` (if given)
        is called with each batch's size after that batch, so its calls sum to ``len(texts)``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Longest first: the widest batch (peak memory) shows up at once, not at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            vectors = self._encode_batch([texts[i] for i in idx])
            if vectors.shape != (len(idx), self.dim):
                raise RuntimeError(
                    f"{self.backend} backend returned shape {vectors.shape}, "
                    f"expected {(len(idx), self.dim)}"
                )
            out[idx] = l2_normalize(vectors)
            if progress is not None:
                progress(len(idx))
        return out

    @abc.abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Embed one batch (any float dtype; :meth:`encode` normalizes)."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, backend={self.backend!r}, "
            f"dim={self.dim}, fingerprint={self.fingerprint!r}, path={str(self.path)!r})"
        )


class TorchEncoder(Encoder):
    """sentence-transformers on the CPU (``backend="torch"``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, threads: int | None = None) -> None:
        super().__init__(resolve_model_path(path), "torch")
        ensure_offline()
        import torch  # noqa: PLC0415 - heavy, imported only when this backend is used
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415

        if threads:
            torch.set_num_threads(threads)
        with quiet_transformers_loading():
            self._model: Any = SentenceTransformer(
                str(self.path), device="cpu", local_files_only=True
            )
        self._model.eval()
        self.max_tokens = int(self._model.max_seq_length or self.max_tokens)
        self.dim = int(self._model.get_embedding_dimension() or self.dim)
        log.info("loaded %s (torch, dim %d) from %s", self.name, self.dim, self.path)

    @property
    def model(self) -> Any:
        """The underlying ``SentenceTransformer``."""
        return self._model

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )


def load_encoder(
    model_path: str | os.PathLike[str] | None = None,
    backend: str = "torch",
    threads: int | None = None,
    *,
    onnx_dir: str | os.PathLike[str] | None = None,
) -> Encoder:
    """Load an :class:`Encoder`.

    Args:
        model_path: a sentence-transformers directory; ``None`` means the bundled model.
        backend: ``"torch"`` (sentence-transformers), ``"onnx"`` (fp32 ONNX Runtime) or
            ``"onnx-int8"`` (dynamically quantized). ONNX models are exported on first use
            into ``onnx_dir`` (see :func:`embeddings.onnx_backend.ensure_onnx_model`).
        threads: CPU threads for inference; ``None`` leaves torch's default, or all CPUs for ONNX.

    Raises:
        ModelNotFoundError: no model at ``model_path``.
        UnknownBackendError: ``backend`` is not one of :data:`BACKENDS`.
        OnnxExportError: the ONNX export or quantization failed.
    """
    if backend not in BACKENDS:
        raise UnknownBackendError(
            f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )
    path = resolve_model_path(model_path)
    if backend == "torch":
        return TorchEncoder(path, threads=threads)
    from .onnx_backend import OnnxEncoder, ensure_onnx_model  # noqa: PLC0415

    quantized = backend == "onnx-int8"
    onnx_path = ensure_onnx_model(path, quantized=quantized, cache_dir=onnx_dir)
    return OnnxEncoder(path, onnx_path, quantized=quantized, threads=threads)
