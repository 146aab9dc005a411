"""`tropesearch eval`: measure ranking quality and latency per mode on a query file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import index_dir_option, model_option
from .search_cmd import backend_option, open_engine


@click.command("eval")
@index_dir_option
@click.option("--queries", "queries_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help='JSON Lines file of {"query", "target_trope_id"}.')
@click.option("--k", type=click.IntRange(1, 100), default=10, show_default=True, help="Cut-off rank.")
@click.option("--modes", default="lexical,dense,hybrid", show_default=True, help="Comma-separated modes to compare.")
@click.option("--similar", "similar_n", type=click.IntRange(0, 100000), default=0, show_default=True,
              help="Also measure find-similar on N sampled example passages.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N queries.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (a .md table and a .png chart beside it).")
@model_option
@backend_option
def eval_(index_dir, queries_path, k, modes, similar_n, limit, out, model, backend):
    """Report Recall@1, Recall@k, MRR@k, nDCG@k (trope level) and latency per mode."""
    from searchsvc.evaluation import evaluate_mode, load_queries, markdown_table, similar_quality, write_chart

    engine = open_engine(Path(index_dir), model, backend)
    queries = load_queries(Path(queries_path))[:limit]
    rows, details = [], {}
    for mode in [m.strip() for m in modes.split(",") if m.strip()]:
        result = evaluate_mode(engine, queries, mode, k)
        rows.append(result["metrics"])
        details[mode] = result["per_query"]
        click.echo(f"{mode}: " + ", ".join(f"{key} {value:.3f}" for key, value in result["metrics"].items()
                                           if isinstance(value, float)), err=True)
    table = markdown_table(rows, k)
    click.echo(table)
    report = {"index_version": engine.version_id, "queries": str(queries_path), "k": k, "modes": rows}
    if similar_n:
        report["similar"] = similar_quality(engine, similar_n, k)
        click.echo(f"\nfind-similar: {report['similar']}")
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**report, "per_query": details}, indent=2), encoding="utf-8")
        out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
        write_chart(rows, k, out.with_suffix(".png"))
        click.echo(f"\nwrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')}", err=True)


COMMANDS = [eval_]
