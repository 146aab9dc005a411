"""The build's view of the encoder: model identity known up front, the model loaded only if needed.

A no-change rebuild finds every embedding in the cache, so it never pays the model's load time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from embeddings.encoder import load_encoder
from embeddings.model import embedding_dim, model_fingerprint, model_name, resolve_model_path

logger = logging.getLogger(__name__)


class LazyEncoder:
    """Has the Encoder interface; loads the real encoder on the first `encode` call."""

    def __init__(self, model: str | None = None, backend: str = "torch"):
        self.path = resolve_model_path(model)
        self.backend = backend
        self.name = model_name(self.path)
        self.fingerprint = model_fingerprint(self.path)
        self.dim = embedding_dim(self.path)
        self._encoder = None

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        if self._encoder is None:
            logger.info("loading %s (%s backend) to encode %d passages", self.name, self.backend, len(texts))
            self._encoder = load_encoder(str(self.path), backend=self.backend)
        return self._encoder.encode(texts, batch_size=batch_size, progress=progress)
