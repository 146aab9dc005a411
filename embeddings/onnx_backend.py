"""ONNX Runtime backend: export the model once, optionally quantize it to int8, encode without torch.

:func:`ensure_onnx_model` exports the model's transformer (``input_ids``, ``attention_mask``,
``token_type_ids`` -> ``last_hidden_state``, dynamic batch and sequence axes) with
``torch.onnx.export`` into ``<cache>/<fingerprint>/model.onnx``, and quantizes that file with
``onnxruntime.quantization.quantize_dynamic`` into ``model.int8-pc.onnx`` (the name records
the quantization settings). Both are written to a temporary file first and moved into place
with :func:`os.replace`, so a crash never leaves a half-written model behind. The cache root is the ``cache_dir`` argument, else the
``TROPESEARCH_ONNX_DIR`` environment variable, else ``~/.cache/tropesearch/onnx``.

:class:`OnnxEncoder` runs the exported file with a plain ``onnxruntime.InferenceSession`` and
the ``tokenizers`` library (padding to each batch's longest text, truncating at
``max_tokens``), then pools token vectors as the model's Pooling config says (mean for
all-MiniLM-L6-v2) and L2-normalizes. Only the export imports torch; encoding never does.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .encoder import Encoder
from .errors import ModelNotFoundError, OnnxExportError, UnsupportedModelError
from .model import (
    ensure_offline,
    model_fingerprint,
    pooling_config,
    quiet_transformers_loading,
    resolve_model_path,
)

log = logging.getLogger(__name__)

ONNX_DIR_ENV = "TROPESEARCH_ONNX_DIR"
"""Environment variable naming the ONNX cache root."""

OPSET = 17
FP32_NAME = "model.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def default_quantize_options() -> dict[str, Any]:
    """``quantize_dynamic`` settings: signed int8 weights, per output channel, 7-bit weight range.

    Measured on the bundled model (300 sample passages, 2-core AVX-512 VNNI CPU): per-channel
    was both the fastest and the most faithful setting (cosine to fp32 mean 0.993, min 0.987;
    per-tensor: mean 0.952, min 0.924). ``reduce_range`` (7-bit weights) keeps u8*s8 products
    from saturating on x86 CPUs without VNNI (ONNX Runtime's advice), and it is used on every
    CPU so that every machine computes the same int8 model: the full-range and the 7-bit models
    disagree with each other (cosine min 0.981 on 300 corpus passages, 0.975 on 200 dev queries)
    as much as either does with fp32 (7-bit: mean 0.992, min 0.982), so vectors from both must
    never meet in one index.
    """
    return {"per_channel": True, "reduce_range": True, "op_types_to_quantize": None}


def int8_file_name(options: dict[str, Any] | None = None) -> str:
    """File name of the quantized model; it names the settings, so changing them re-quantizes."""
    options = options or default_quantize_options()
    tag = "-pc" if options.get("per_channel") else ""
    tag += "-rr" if options.get("reduce_range") else ""
    ops = options.get("op_types_to_quantize")
    tag += "-" + "+".join(sorted(ops)).lower() if ops else ""
    return f"model.int8{tag}.onnx"


def default_onnx_dir() -> Path:
    """Root of the ONNX cache: ``$TROPESEARCH_ONNX_DIR``, else ``~/.cache/tropesearch/onnx``."""
    env = os.environ.get(ONNX_DIR_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tropesearch" / "onnx"


def onnx_model_dir(
    model_path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Folder that holds (or will hold) the ONNX exports of one model: ``<cache>/<fingerprint>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_onnx_dir()
    return root / model_fingerprint(model_path)


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")


def export_onnx(model_path: Path, dest: Path) -> None:
    """Export the transformer of ``model_path`` to ONNX at ``dest`` (atomically). Imports torch.

    Uses the TorchScript exporter (``dynamo=False``: needs only the ``onnx`` package, about 2 s);
    should that fail (it is deprecated in torch), the ``torch.export`` based exporter is tried
    when ``onnxscript`` is installed.
    """
    ensure_offline()
    _require_onnx("exporting to ONNX")
    try:
        import torch  # noqa: PLC0415 - only the export needs torch
        from transformers import AutoModel  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise OnnxExportError(f"exporting to ONNX needs torch and transformers: {exc}") from exc

    with quiet_transformers_loading():
        model = AutoModel.from_pretrained(
            str(model_path), local_files_only=True, attn_implementation="eager"
        )

    class _LastHiddenState(torch.nn.Module):
        """Keyword-calling wrapper: transformers' positional forward() order is not stable."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    wrapper = _LastHiddenState(model).eval()
    # A padded example, so that no "all tokens are real" shortcut gets traced in.
    input_ids = torch.tensor(
        [[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]]
    )
    example = (input_ids, (input_ids != 0).long(), torch.zeros_like(input_ids))
    common: dict[str, Any] = {
        "input_names": list(INPUT_NAMES),
        "output_names": ["last_hidden_state"],
        "opset_version": OPSET,
    }
    axes = {0: "batch", 1: "sequence"}
    legacy = {
        **common,
        "dynamo": False,
        "do_constant_folding": True,
        "dynamic_axes": {name: axes for name in (*INPUT_NAMES, "last_hidden_state")},
    }
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OnnxExportError(
            f"cannot create the ONNX cache {dest.parent}: {exc}; set {ONNX_DIR_ENV} to a writable folder"
        ) from exc
    tmp = _tmp_sibling(dest)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Both exporters warn (deprecation, tracer notes) on every export.
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(wrapper, example, str(tmp), **legacy)
            except Exception as exc:
                if importlib.util.find_spec("onnxscript") is None:
                    raise
                log.info("TorchScript ONNX export failed (%s); trying the dynamo exporter", exc)
                batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=8192)
                shapes = {name: {0: batch, 1: seq} for name in INPUT_NAMES}
                torch.onnx.export(
                    wrapper, example, str(tmp), **common, dynamo=True,
                    dynamic_shapes=shapes, external_data=False, verbose=False,
                )
        os.replace(tmp, dest)
    except Exception as exc:
        raise OnnxExportError(f"exporting {model_path} to ONNX failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s to %s", model_path, dest)


class _DemoteRootRecords(logging.Filter):
    """Re-log the quantizer's chatter (it logs on the root logger) at DEBUG on this module's logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        log.debug("onnxruntime.quantization: %s", record.getMessage())
        return False


def _require_onnx(what: str) -> None:
    if importlib.util.find_spec("onnx") is None:
        raise OnnxExportError(f"{what} needs the `onnx` package: pip install onnx")


def quantize_onnx(src: Path, dest: Path, **options: Any) -> None:
    """Dynamic int8 quantization of ``src`` into ``dest`` (atomically).

    ``options`` override :func:`default_quantize_options` (``per_channel``, ``reduce_range``,
    ``op_types_to_quantize``); weights are always signed int8 (``QuantType.QInt8``).
    """
    _require_onnx("int8 quantization")
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    settings = {**default_quantize_options(), **options}
    # ONNX Runtime writes a shape-inferred copy beside its input: give it a private folder (on
    # dest's file system, so the result is moved into place atomically), removed however it ends
    work = Path(tempfile.mkdtemp(prefix=".quantize-", dir=dest.parent))
    tmp = work / dest.name
    demote = _DemoteRootRecords()
    logging.root.addFilter(demote)
    try:
        source = work / src.name
        os.symlink(Path(src).resolve(), source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source),
                str(tmp),
                weight_type=QuantType.QInt8,
                per_channel=settings["per_channel"],
                reduce_range=settings["reduce_range"],
                op_types_to_quantize=settings["op_types_to_quantize"],
            )
        os.replace(tmp, dest)
    except Exception as exc:
        free = shutil.disk_usage(dest.parent).free // 2**20
        raise OnnxExportError(f"quantizing {src} failed: {exc} (it writes about {src.stat().st_size // 2**20 * 2} MB "
                              f"into {dest.parent}, where {free} MB are free)") from exc
    finally:
        logging.root.removeFilter(demote)
        shutil.rmtree(work, ignore_errors=True)
    log.info("quantized %s to %s (%s)", src, dest, settings)


def ensure_onnx_model(
    model_path: str | os.PathLike[str] | None,
    quantized: bool,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Path of the model's ONNX export (int8 if ``quantized``), exporting/quantizing it if absent.

    Raises:
        ModelNotFoundError: no model at ``model_path``.
        OnnxExportError: the export or the quantization failed.
    """
    path = resolve_model_path(model_path)
    folder = onnx_model_dir(path, cache_dir)
    fp32 = folder / FP32_NAME
    if not fp32.is_file():
        log.info("exporting %s to ONNX (once) into %s", path, folder)
        export_onnx(path, fp32)
        _write_meta(folder, path)
    if not quantized:
        return fp32
    int8 = folder / int8_file_name()
    if not int8.is_file():
        log.info("quantizing %s to int8 (once)", fp32)
        quantize_onnx(fp32, int8)
    return int8


def _write_meta(folder: Path, model_path: Path) -> None:
    meta = {
        "model_path": str(model_path),
        "fingerprint": folder.name,
        "opset": OPSET,
        "inputs": list(INPUT_NAMES),
        "output": "last_hidden_state",
    }
    tmp = _tmp_sibling(folder / "meta.json")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "meta.json")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _pooling_mode(config: dict[str, Any]) -> str:
    modes = [
        mode
        for mode in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
        if config.get(f"pooling_mode_{mode}")
    ]
    if not config:
        return "mean_tokens"
    if len(modes) != 1:
        raise UnsupportedModelError(
            f"the ONNX backend supports exactly one of cls/mean/max/mean_sqrt_len pooling, got {config}"
        )
    return modes[0]


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str = "mean_tokens") -> np.ndarray:
    """Sentence vectors from token vectors ``hidden`` (b, s, d) and ``attention_mask`` (b, s)."""
    if mode == "cls_token":
        return hidden[:, 0, :]
    weights = mask.astype(hidden.dtype)[:, :, None]
    if mode == "max_tokens":
        return np.where(weights > 0, hidden, np.finfo(hidden.dtype).min).max(axis=1)
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    if mode == "mean_sqrt_len_tokens":
        return summed / np.sqrt(counts)
    return summed / counts


class OnnxEncoder(Encoder):
    """ONNX Runtime on the CPU (``backend="onnx"``, or ``"onnx-int8"`` for a quantized file)."""

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None,
        onnx_path: str | os.PathLike[str],
        quantized: bool = False,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort  # noqa: PLC0415
        from tokenizers import Tokenizer  # noqa: PLC0415

        path = resolve_model_path(model_path)
        super().__init__(path, "onnx-int8" if quantized else "onnx")
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise ModelNotFoundError(
                f"ONNX model {self.onnx_path} does not exist; see ensure_onnx_model()"
            )
        self._pooling = _pooling_mode(pooling_config(path))

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        pad_token = "[PAD]"
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            padding = tokenizer.padding or {}
            pad_token, pad_id = padding.get("pad_token", pad_token), padding.get("pad_id", 0)
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)  # to the batch's longest
        self._tokenizer = tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _cpu_count()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._output = self._session.get_outputs()[0].name
        self.threads = options.intra_op_num_threads
        log.info(
            "loaded %s (%s, %d threads) from %s",
            self.name, self.backend, self.threads, self.onnx_path,
        )

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feed = {name: arrays[name] for name in self._inputs}
        (hidden,) = self._session.run([self._output], feed)
        return pool(hidden, arrays["attention_mask"], self._pooling)
