"""`tropesearch parse`: pages to JSON passages on stdout, a summary on stderr."""

from __future__ import annotations

import json
from collections import Counter

import click

from embeddings.model import resolve_model_path
from embeddings.tokens import TokenCounter
from indexer.chunking import ChunkSettings, Chunker
from indexer.merge import merge_pages
from indexer.parse import parse_sources

from .options import format_option, manifest_option, model_option


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@format_option
@manifest_option
@model_option
def parse(paths, fmt, manifest, model):
    """Parse PATHS (files or folders) and print one JSON passage per line.

    Each line has id, trope_id, trope_title, kind (description|quote|example), media, work,
    parent_id, text and source. Folders are walked; files that are not pages are reported and
    skipped. Exits 1 when no page parsed.
    """
    report = parse_sources(paths, fmt, manifest=manifest)
    tropes = merge_pages(report.pages)
    counter = TokenCounter(resolve_model_path(model))
    chunker = Chunker(counter, ChunkSettings(max_tokens=counter.max_tokens))
    kinds: Counter[str] = Counter()
    out = click.get_text_stream("stdout")
    for trope in tropes:
        for passage in chunker.chunk(trope):
            kinds[passage.kind] += 1
            out.write(json.dumps(passage.public_dict(), ensure_ascii=False) + "\n")
    err = lambda msg: click.echo(msg, err=True)  # noqa: E731
    err(f"pages: {len(report.pages)}  tropes: {len(tropes)}  passages: {sum(kinds.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'})")
    for exc in report.skipped:
        err(f"skipped: {exc}")
    for name in report.ignored:
        err(f"ignored (not a page): {name}")
    if not report.pages:
        raise click.ClickException("no page could be parsed" + (f"; first problem: {report.skipped[0]}" if report.skipped else ""))
