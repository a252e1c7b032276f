"""``memchat serve``: the HTTP API and web chat for many users."""

from __future__ import annotations

import os

import click

from ..errors import MemchatError
from ..store.rates import parse_rate
from .app import App, pass_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (they share the database).",
)
@pass_app
def serve(app: App, host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (/api, spec at /openapi.json) and the web chat (/).

    Callers authenticate with an API token from `memchat users add NAME`.
    """
    try:
        import uvicorn

        from ..server import app as server_app
        from ..server.serving import uvicorn_options
    except ImportError as exc:
        raise MemchatError(
            f"memchat serve needs the server extra ({exc.name} is missing): "
            "pip install 'memchat[server]'"
        ) from exc
    # Fail here, with a one-line message, rather than in every worker.
    rate_limit = parse_rate(app.settings.rate_limit)
    model = app.model
    store = app.store
    has_users = bool(store.list_users())
    app.close()
    # Workers are separate processes that read their settings from the environment.
    os.environ["MEMCHAT_DB"] = str(app.settings.db)
    click.echo(
        f"memchat serving http://{host}:{port}/ ({workers} worker(s), {model.description}, "
        f"database {app.settings.db})",
        err=True,
    )
    click.echo(f"rate limit: {rate_limit or 'none'} per user (MEMCHAT_RATE_LIMIT)", err=True)
    settings = app.settings
    click.echo(
        f"limits: {settings.max_connections} connections per worker, headers up to "
        f"{settings.max_header_bytes:,} bytes in {settings.read_timeout} s, idle connections "
        f"closed after {settings.keep_alive} s",
        err=True,
    )
    if not has_users:
        click.echo("no users yet: create one with `memchat users add NAME --admin`", err=True)
    uvicorn.run(
        f"{server_app.__name__}:{server_app.app_from_env.__name__}",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        **uvicorn_options(settings),
    )
