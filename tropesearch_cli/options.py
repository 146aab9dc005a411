"""Options shared by several commands."""

from __future__ import annotations

import click

from indexer.page import Format

format_option = click.option(
    "--format", "fmt", type=click.Choice([f.value for f in Format]), default=None,
    help="Page format; detected from the content when omitted.",
)
manifest_option = click.option(
    "--manifest", type=click.Path(exists=True, dir_okay=False), default=None,
    help="manifest.json naming the trope of pages that do not (file name -> trope_id, title). "
         "A manifest.json inside a source folder applies to that folder automatically.",
)
index_dir_option = click.option(
    "--index-dir", type=click.Path(file_okay=False), required=True, envvar="TROPESEARCH_INDEX_DIR",
    show_envvar=True, help="Index directory (holds CURRENT and versions/).",
)
model_option = click.option(
    "--model", default=None, envvar="TROPESEARCH_MODEL", show_envvar=True,
    help="A local sentence-transformers model directory (default: the bundled all-MiniLM-L6-v2).",
)
