"""Which backends' vectors are interchangeable: may an index embedded by one be queried by another?

Two backends are interchangeable when the cosine between their vectors of the same passages is
at least 0.99 on every sample passage (measured in tests/test_onnx_backend.py):
- torch vs onnx (fp32): min ~1.000 -> interchangeable;
- torch or onnx vs onnx-int8: mean 0.991, min 0.984 -> not; an int8 index needs int8 queries.
"""

from __future__ import annotations

MIN_AGREEMENT = 0.99
_INTERCHANGEABLE = {frozenset({"torch", "onnx"})}


def backends_compatible(index_backend: str, query_backend: str) -> bool:
    return index_backend == query_backend or frozenset({index_backend, query_backend}) in _INTERCHANGEABLE


def compatible_backends(index_backend: str) -> list[str]:
    from .encoder import BACKENDS

    return [b for b in BACKENDS if backends_compatible(index_backend, b)]
