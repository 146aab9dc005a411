"""Entry point of the `tropesearch` command: a click group whose errors print as `Error: ...`, exit 1."""

from __future__ import annotations

import logging
import sqlite3
import sys

import click

from embeddings.errors import EmbeddingsError
from indexer.errors import TropesearchError


class ErrorsAtTheEdge(click.Group):
    """Turn domain exceptions into `Error: message` and exit status 1; no traceback reaches a user."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (TropesearchError, EmbeddingsError) as exc:
            raise click.ClickException(str(exc)) from None
        except (OSError, sqlite3.Error) as exc:   # disk full, permissions, I/O errors: a message, not a traceback
            raise click.ClickException(" ".join(str(exc).split()) or type(exc).__name__) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=ErrorsAtTheEdge, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="tropesearch")
def cli(verbose: int) -> None:
    """tropesearch: semantic search over TV Tropes pages.

    Typical use: `tropesearch build data/sample --index-dir var/index`, then
    `tropesearch serve --index-dir var/index` and open http://127.0.0.1:8000.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _register() -> None:
    from . import build_cmd, parse_cmd

    cli.add_command(parse_cmd.parse)
    cli.add_command(build_cmd.build)
    cli.add_command(build_cmd.info)
    for module_name in ("search_cmd", "serve_cmd", "eval_cmd"):
        try:
            module = __import__(f"{__package__}.{module_name}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module_name}":
                raise
            continue
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


if __name__ == "__main__":
    cli()
