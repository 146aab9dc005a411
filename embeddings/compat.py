"""Which backends' vectors are interchangeable: may an index embedded by one be queried by another?

Two backends are interchangeable when the cosine between their vectors of the same passages is
at least 0.99 on every sample passage (measured in tests/test_onnx_backend.py):
- torch vs onnx (fp32): min ~1.000 -> interchangeable;
- torch or onnx vs onnx-int8: mean 0.991, min 0.984 -> not; an int8 index needs int8 queries,
  from the same quantized model: its "embedding space" names the quantization settings.
"""

from __future__ import annotations

MIN_AGREEMENT = 0.99
# Indexes are embedded in fp32 (sentence-transformers) unless told otherwise: the int8 model builds
# 2.3x faster on 2 cores, but ranks the dev queries a little worse (hybrid Recall@10 0.897 vs 0.907,
# MRR@10 0.746 vs 0.750; README "Speed"), so it is offered, not the default.
DEFAULT_BACKEND = "torch"
_INTERCHANGEABLE = {frozenset({"torch", "onnx"})}
# the query backend that reads an index of each backend fastest (ONNX needs no torch at query time)
_FASTEST_QUERY_BACKEND = {"torch": "onnx", "onnx": "onnx", "onnx-int8": "onnx-int8"}


def embedding_space(backend: str) -> str:
    """What a backend's vectors are comparable as, recorded in manifests and embedding-cache keys:
    the backend's name, and for int8 also its quantization settings ("onnx-int8:pc-rr")."""
    if backend == "onnx-int8":
        from .onnx_backend import int8_file_name

        tag = int8_file_name().removeprefix("model.int8").removesuffix(".onnx").lstrip("-")
        return f"{backend}:{tag}"
    return backend


def backend_of_space(space: str) -> str:
    return space.split(":", 1)[0]


def backends_compatible(index_backend: str, query_backend: str) -> bool:
    """Whether queries embedded by `query_backend` may search vectors embedded by `index_backend`
    (either may be a backend name or an embedding space)."""
    a = index_backend if ":" in index_backend else embedding_space(index_backend)
    b = query_backend if ":" in query_backend else embedding_space(query_backend)
    return a == b or frozenset({a, b}) in _INTERCHANGEABLE


def query_backend_for(index_backend: str) -> str:
    """The fastest query backend whose vectors agree with an index embedded by `index_backend`."""
    return _FASTEST_QUERY_BACKEND.get(backend_of_space(index_backend), backend_of_space(index_backend))


def compatible_backends(index_backend: str) -> list[str]:
    from .encoder import BACKENDS

    return [b for b in BACKENDS if backends_compatible(index_backend, b)]
