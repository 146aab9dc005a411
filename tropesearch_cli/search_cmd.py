"""`tropesearch search` and `tropesearch similar`: the query engine in-process, no server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from indexer.storage import check_manifest, load_version, resolve_query_backend
from searchsvc.engine import SearchEngine, SearchResponse
from searchsvc.query import GROUPS, KINDS, MAX_DEPTH, MAX_K, MODES, SCOPES, Query
from searchsvc.settings import QUERY_BACKENDS

from .options import index_dir_option, model_option

backend_option = click.option(
    "--backend", type=click.Choice(QUERY_BACKENDS), default="auto", envvar="TROPESEARCH_BACKEND",
    show_default=True, show_envvar=True,
    help="Embedding backend for the query; auto: the fastest one that agrees with the published index.",
)
k_option = click.option("-k", "--k", "k", type=click.IntRange(1, MAX_K), default=10, show_default=True,
                        help=f"Number of results (1 to {MAX_K}).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the response as JSON (as the API does).")


def _encoder_for(model: str | None, backend: str):
    """Load the query encoder (a seam: tests swap in the session's already loaded encoder). One
    thread: one short query at a time encodes fastest so (see the MODEL_THREADS setting)."""
    from embeddings import load_encoder

    return load_encoder(model, backend=backend, threads=1)


def open_engine(index_dir: str | Path, model: str | None, backend: str) -> SearchEngine:
    """The published version of `index_dir` with the query model; the index is checked first (fast
    failure when none is published), then that it was built with this model."""
    version = load_version(Path(index_dir))
    encoder = _encoder_for(model, resolve_query_backend(backend, Path(index_dir)))
    check_manifest(version.manifest, version.path, getattr(encoder, "fingerprint", None),
                   getattr(encoder, "backend", None))
    return SearchEngine(version, encoder)


def _one_line(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: max(width - 1, 1)].rstrip() + "\u2026"


def print_results(response: SearchResponse, heading: str) -> None:
    width = max(40, min(shutil.get_terminal_size((100, 24)).columns, 120) - 7)
    click.echo(heading)
    if not response.results:
        click.echo("No results.")
        return
    for r in response.results:
        where = " / ".join(x for x in (r["media"], r["work"]) if x)
        title = click.style(r["trope"]["title"], bold=True)
        click.echo(f"\n{r['rank']:>3}  {r['score']:.4f}  {title}" + (f" \u2014 {where}" if where else "")
                   + f" ({r['kind']})")
        click.echo(f"     {_one_line(r['text'], width)}")
        click.echo(click.style(f"     id {r['id']}", dim=True))


@click.command()
@click.argument("query", nargs=-1, required=True)
@index_dir_option
@k_option
@click.option("--offset", type=click.IntRange(0, MAX_DEPTH - 1), default=0, show_default=True,
              help="Results to skip (paging).")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid: meaning + keywords; dense: meaning only; lexical: keywords only (BM25).")
@click.option("--media", multiple=True, help="Only this media (repeatable), e.g. --media Film --media Literature.")
@click.option("--trope", default=None, help="Only passages of this trope id.")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only passages of this kind.")
@click.option("--group", type=click.Choice(GROUPS), default="passage", show_default=True,
              help="trope: only the best passage of each trope.")
@model_option
@backend_option
@json_option
def search(query, index_dir, k, offset, mode, media, trope, kind, group, model, backend, as_json):
    """Search the published index in INDEX_DIR for QUERY (no server needed).

    Prints rank, score, trope title, media / work, a one-line excerpt and the passage id of each
    result (`tropesearch similar PASSAGE_ID` finds passages like one of them).
    """
    text = " ".join(query)
    q = Query(text, k=k, offset=offset, mode=mode, media=tuple(media), trope=trope, kind=kind,
              group=group).validated()   # a bad query fails before the model loads
    engine = open_engine(index_dir, model, backend)
    response = engine.search(q)
    if as_json:
        click.echo(json.dumps(response.as_dict(), ensure_ascii=False, indent=2))
        return
    shown = f"{offset + 1}-{offset + len(response.results)} of {response.total}" if response.results else f"0 of {response.total}"
    print_results(response, f"{shown} results for {response.query!r} ({mode}, index {response.index_version}, "
                            f"{response.took_ms:.0f} ms)")


@click.command()
@click.argument("passage_id")
@index_dir_option
@k_option
@click.option("--scope", type=click.Choice(SCOPES), default="any", show_default=True,
              help="any: anywhere; same-trope: within the passage's trope; other-tropes: only other tropes.")
@model_option
@backend_option
@json_option
def similar(passage_id, index_dir, k, scope, model, backend, as_json):
    """Passages similar to PASSAGE_ID (an id from `tropesearch search`), never the passage itself."""
    engine = open_engine(index_dir, model, backend)
    source = engine.passage(passage_id)
    response = engine.similar(passage_id, k=k, scope=scope)
    if as_json:
        click.echo(json.dumps(response.as_dict(), ensure_ascii=False, indent=2))
        return
    where = " / ".join(x for x in (source["media"], source["work"]) if x)
    print_results(response, f"Passages like {passage_id} of {source['trope']['title']}" + (f" ({where})" if where else "")
                  + f", scope {scope}:\n     {_one_line(source['text'], 100)}")


COMMANDS = [search, similar]
