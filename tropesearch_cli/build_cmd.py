"""`tropesearch build` and `tropesearch info`: offline index builds and what an index holds."""

from __future__ import annotations

import json
from pathlib import Path

import click
from tqdm import tqdm

from embeddings.compat import DEFAULT_BACKEND
from embeddings.encoder import BACKENDS
from indexer.build import BuildOptions, build_index
from indexer.chunking import ChunkSettings
from indexer.storage import current_version_id, index_embedding_space, list_versions, load_version
from indexer.vector_index import AUTO_FLAT_MAX, INDEX_TYPES

from .options import format_option, index_dir_option, manifest_option, model_option


class _Bars:
    """tqdm bars for the parse and embed stages (to stderr; disabled when stderr is not a terminal? no: always)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.parse_bar = None
        self.embed_bar = None

    def on_files(self, total: int) -> None:
        self.parse_bar = tqdm(total=total, desc="parsing", unit="file", disable=self.quiet, leave=True)

    def on_file(self, path: Path) -> None:
        if self.parse_bar is not None:
            self.parse_bar.update(1)

    def on_embed_start(self, total: int) -> None:
        if self.parse_bar is not None:
            self.parse_bar.close()
        self.embed_bar = tqdm(total=total, desc="embedding", unit="passage", disable=self.quiet or total == 0,
                              leave=True, smoothing=0.1)

    def on_embedded(self, n: int) -> None:
        if self.embed_bar is not None:
            self.embed_bar.update(n)

    def close(self) -> None:
        for bar in (self.parse_bar, self.embed_bar):
            if bar is not None:
                bar.close()


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@index_dir_option
@format_option
@manifest_option
@model_option
@click.option("--backend", type=click.Choice(BACKENDS), default=DEFAULT_BACKEND,
              envvar="TROPESEARCH_BACKEND", show_default=True, show_envvar=True,
              help="Embedding backend: torch (sentence-transformers, fp32), onnx (fp32 ONNX Runtime: the same "
                   "vectors) or onnx-int8 (int8 ONNX Runtime: 2.3x faster builds and queries, slightly lower "
                   "ranking quality; its index needs onnx-int8 queries).")
@click.option("--index-type", type=click.Choice(INDEX_TYPES), default="auto", show_default=True,
              help=f"auto: exact (flat) up to {AUTO_FLAT_MAX:,} passages, IVF with 8-bit scalar "
                   "quantisation (ivf-sq8) above.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True,
              help="Passages per encoder batch.")
@click.option("--keep", "keep_versions", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Index versions to keep.")
@click.option("--max-page-mb", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Pages larger than this are reported and skipped.")
@click.option("--description-tokens", type=click.IntRange(32, 256), default=ChunkSettings.description_tokens,
              show_default=True, help="Target size of description chunks (tokens).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def build(sources, index_dir, fmt, manifest, model, backend, index_type, batch_size, keep_versions, max_page_mb,
          description_tokens, as_json, quiet):
    """Build a new index version from SOURCES (files or folders) and publish it.

    The running service picks the new version up by itself. Embeddings of unchanged passages are
    reused from the cache in INDEX_DIR/cache. Exits 1 when nothing could be indexed.
    """
    bars = _Bars(quiet)
    opts = BuildOptions(
        sources=list(sources), index_dir=Path(index_dir), format=fmt, manifest=manifest, model=model,
        backend=backend, index_type=index_type, batch_size=batch_size, keep_versions=keep_versions,
        max_page_bytes=max_page_mb * 1024 * 1024,
        chunking=ChunkSettings(description_tokens=description_tokens),
        on_files=bars.on_files, on_file=bars.on_file, on_embed_start=bars.on_embed_start,
        on_embedded=bars.on_embedded,
    )
    try:
        summary = build_index(opts)
    finally:
        bars.close()
    if as_json:
        click.echo(json.dumps({
            "version": summary.version_id, "pages": summary.pages, "tropes": summary.tropes,
            "passages": summary.passages, "by_kind": summary.by_kind, "by_media": summary.by_media,
            "skipped": [{"source": s, "reason": r} for s, r in summary.skipped],
            "embeddings": {"computed": summary.computed, "reused": summary.reused},
            "index_type": summary.index_type, "recall_at_10": summary.recall_at_10,
            "seconds": round(summary.seconds, 2), "stage_seconds": {k: round(v, 2) for k, v in summary.stage_seconds.items()},
        }, indent=2))
        return
    echo = click.echo
    rate = summary.computed / summary.stage_seconds["embed"] if summary.computed and summary.stage_seconds["embed"] else 0
    echo(f"Published version {summary.version_id} in {summary.index_dir}")
    echo(f"  pages {summary.pages}, tropes {summary.tropes}, passages {summary.passages} "
         f"({', '.join(f'{k} {v}' for k, v in sorted(summary.by_kind.items()))})")
    top_media = sorted(summary.by_media.items(), key=lambda kv: -kv[1])
    if top_media:
        echo("  media: " + ", ".join(f"{m} {n}" for m, n in top_media))
    echo(f"  embeddings: {summary.computed} computed" + (f" ({rate:.0f} passages/s)" if rate else "")
         + f", {summary.reused} reused from cache")
    idx = f"  index: {summary.index_type}"
    if summary.recall_at_10 is not None:
        idx += f", ANN recall@10 vs exact {summary.recall_at_10:.3f}"
    echo(idx)
    echo(f"  time: {summary.seconds:.1f} s (" + ", ".join(f"{k} {v:.1f}" for k, v in summary.stage_seconds.items()) + ")")
    if summary.skipped:
        echo(f"  skipped {len(summary.skipped)} file(s):")
        for _, reason in summary.skipped:
            echo(f"    {reason}")
    if summary.ignored:
        echo(f"  ignored {len(summary.ignored)} non-page file(s): " + ", ".join(Path(p).name for p in summary.ignored[:5]))


@click.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def info(index_dir, as_json):
    """Show the published index version: manifest, model, counts."""
    version = load_version(Path(index_dir))
    m = version.manifest
    if as_json:
        click.echo(json.dumps(m, indent=2, sort_keys=True))
        return
    c = m["counts"]
    click.echo(f"index dir:   {index_dir}")
    click.echo(f"version:     {version.version_id} (built {m['built_at']}; {len(list_versions(Path(index_dir)))} kept; "
               f"CURRENT = {current_version_id(Path(index_dir))})")
    click.echo(f"format:      {m['format_version']} (tropesearch {m['tropesearch_version']})")
    click.echo(f"model:       {m['model']['name']} fingerprint {m['model']['fingerprint']} dim {m['model']['dim']} "
               f"backend {m['model']['backend']} (embedding space {index_embedding_space(m)})")
    idx = m["index"]
    click.echo(f"index:       {idx['type']} {idx['params'] or ''}" +
               (f" recall@10 {idx['recall_at_10']}" if idx.get("recall_at_10") is not None else ""))
    click.echo(f"chunking:    {m['chunking']}")
    click.echo(f"counts:      pages {c['pages']}, tropes {c['tropes']}, passages {c['passages']} {c['by_kind']}")
    click.echo(f"media:       {c['by_media']}")
    click.echo(f"sources:     {len(m['sources'])} files")
    click.echo(f"embeddings:  {m['embeddings']['computed']} computed, {m['embeddings']['reused']} reused")
