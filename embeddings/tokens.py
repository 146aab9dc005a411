"""Counting model tokens without torch, so the chunker can guarantee every passage fits.

:class:`TokenCounter` loads the model's ``tokenizer.json`` with the ``tokenizers`` library.
Counts include the special ``[CLS]``/``[SEP]`` tokens and are never truncated, so a passage
*fits* the model exactly when ``count <= max_tokens``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .errors import ModelNotFoundError
from .model import max_seq_length, resolve_model_path

log = logging.getLogger(__name__)


class TokenCounter:
    """Token counts as the embedding model sees them.

    Attributes:
        path: the model directory.
        max_tokens: the model's ``max_seq_length`` (256 for all-MiniLM-L6-v2); longer inputs
            are truncated by the encoders.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None) -> None:
        from tokenizers import Tokenizer  # noqa: PLC0415 - keep `import embeddings` cheap

        self.path: Path = resolve_model_path(model_path)
        tokenizer_file = self.path / "tokenizer.json"
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ModelNotFoundError(f"cannot load {tokenizer_file}: {exc}") from exc
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.max_tokens: int = max_seq_length(self.path)

    def count(self, texts: list[str]) -> list[int]:
        """Token counts of ``texts``, special tokens included, without truncation."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        return [len(encoding.ids) for encoding in encodings]

    def count_one(self, text: str) -> int:
        """Token count of a single text (see :meth:`count`)."""
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)

    def fits(self, text: str) -> bool:
        """Whether ``text`` reaches the model untruncated (``count <= max_tokens``)."""
        return self.count_one(text) <= self.max_tokens
