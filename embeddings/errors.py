"""Exceptions raised by the ``embeddings`` package.

Every error derives from :class:`EmbeddingsError`, so callers (the indexer, the search service,
the CLI) can catch the whole family without importing anything else from this package.
"""

from __future__ import annotations


class EmbeddingsError(Exception):
    """Base class of every error raised by :mod:`embeddings`."""


class ModelNotFoundError(EmbeddingsError):
    """The embedding model could not be located (package missing, or path not a model dir)."""


class UnknownBackendError(EmbeddingsError, ValueError):
    """An encoder backend name that :func:`embeddings.load_encoder` does not know."""


class OnnxExportError(EmbeddingsError):
    """Exporting the model to ONNX, or quantizing it, failed."""


class UnsupportedModelError(EmbeddingsError):
    """The model directory uses a feature this backend cannot reproduce (e.g. a pooling mode)."""
