"""`tropesearch serve`: the search page and JSON API under gunicorn (or Flask's dev server)."""

from __future__ import annotations

import click

from indexer.errors import TropesearchError
from indexer.storage import current_version_id
from searchsvc.settings import QUERY_BACKENDS, SETTINGS, load_settings


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def run_gunicorn(app_config: dict, settings: dict) -> None:
    """gunicorn, configured in code: gthread workers, each loading the model and the index itself."""
    from gunicorn.app.base import BaseApplication

    from searchsvc.app import create_app

    class TropesearchGunicorn(BaseApplication):
        def __init__(self):
            self.options = {
                "bind": f"{settings['HOST']}:{settings['PORT']}" if ":" not in settings["HOST"]
                        else f"[{settings['HOST']}]:{settings['PORT']}",
                "workers": settings["WORKERS"],
                "threads": settings["THREADS"],
                "worker_class": "gthread",
                "preload_app": False,            # every worker loads model + index once, after the fork
                "timeout": settings["TIMEOUT"],
                "graceful_timeout": 30,
                "keepalive": 5,
                "proc_name": "tropesearch",
                "errorlog": "-",
                "loglevel": settings["LOG_LEVEL"].lower(),
            }
            super().__init__()

        def load_config(self):
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app(app_config)

    TropesearchGunicorn().run()


def run_dev(app_config: dict, settings: dict) -> None:
    """Flask's development server with the reloader; the app is only built in the reloaded child."""
    from werkzeug.serving import is_running_from_reloader, run_simple

    from searchsvc.app import create_app

    if is_running_from_reloader():
        app = create_app(app_config)
    else:  # the watching parent process never serves: do not load the model there
        def app(environ, start_response):  # pragma: no cover
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
    run_simple(settings["HOST"], settings["PORT"], app, use_reloader=True, use_debugger=False, threaded=True,
               extra_files=None)


@click.command(epilog="Settings (keys of the TROPESEARCH_CONFIG file, or TROPESEARCH_<NAME> env vars): "
                       + ", ".join(s.name for s in SETTINGS) + ". See searchsvc/settings.py for each one's help.")
@click.option("--index-dir", type=click.Path(file_okay=False), default=None,
              help="Index directory (holds CURRENT and versions/). [default: TROPESEARCH_INDEX_DIR, the config "
                   "file's INDEX_DIR, or var/index]")
@click.option("--host", default=None, help="Address to bind. [default: 127.0.0.1; env TROPESEARCH_HOST]")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port. [default: 8000; env TROPESEARCH_PORT]")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="gunicorn worker processes, each with its own model and index. "
                   "[default: 2; env TROPESEARCH_WORKERS]")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Threads per worker. [default: 4; env TROPESEARCH_THREADS]")
@click.option("--model", default=None,
              help="Model directory the index was built with. [default: the bundled model; env TROPESEARCH_MODEL]")
@click.option("--backend", type=click.Choice(QUERY_BACKENDS), default=None,
              help="Query embedding backend; auto: the fastest one that agrees with the published index. "
                   "[default: auto; env TROPESEARCH_BACKEND]")
@click.option("--dev", is_flag=True,
              help="Flask's development server with auto-reload (one process; not for production).")
def serve(index_dir, host, port, workers, threads, model, backend, dev):
    """Serve the search page and the JSON API (gunicorn, gthread workers).

    Settings may also come from a TOML/JSON file named by TROPESEARCH_CONFIG and from
    TROPESEARCH_* environment variables; command-line options win. A newly published index
    (`tropesearch build ... --index-dir DIR`) is picked up without a restart. Without any index the
    service still starts: /healthz is 200, /readyz 503 until one is built.
    """
    overrides = {key: value for key, value in {
        "INDEX_DIR": index_dir, "HOST": host, "PORT": port, "WORKERS": workers, "THREADS": threads,
        "MODEL": model, "BACKEND": backend,
    }.items() if value is not None}
    settings = load_settings(overrides)   # bad settings fail here, before any worker starts
    try:
        published = current_version_id(settings["INDEX_DIR"])
    except TropesearchError as exc:   # the service starts anyway and reports it on /readyz
        click.echo(f"Warning: {exc}", err=True)
        published = "?"
    if published is None:
        click.echo(f"Warning: no index published under {settings['INDEX_DIR']} yet; run `tropesearch build SOURCES "
                   f"--index-dir {settings['INDEX_DIR']}` (the service picks it up when published).", err=True)
    url = _url(settings["HOST"], settings["PORT"])
    if dev:
        click.echo(f"tropesearch (dev server) serving {settings['INDEX_DIR']} at {url}")
        run_dev(overrides, settings)
    else:
        click.echo(f"tropesearch serving {settings['INDEX_DIR']} at {url} "
                   f"({settings['WORKERS']} workers x {settings['THREADS']} threads; API docs {url}api/openapi.json)")
        run_gunicorn(overrides, settings)


COMMANDS = [serve]
