"""``memchat migrate``: copy a SQLite database into PostgreSQL."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import MemchatError
from ..store import POSTGRES_SCHEMES, open_store
from .app import App, pass_app


@click.command()
@click.option(
    "--from",
    "source",
    metavar="URL",
    help="sqlite:///path or a path (default: the configured database).",
)
@click.option("--to", "target", required=True, metavar="URL", help="postgresql://... to copy into.")
@pass_app
def migrate(app: App, source: str | None, target: str) -> None:
    """Copy every user, session, turn, fact and token from SQLite into PostgreSQL.

    The copy is verified by row counts and per-session checksums. If it is interrupted,
    run it again: sessions already copied are skipped. An encrypted database is copied
    sealed, with MEMCHAT_ENCRYPTION_KEY set to its key.
    """
    path = (source or app.settings.db).removeprefix("sqlite:///")
    if path.startswith(POSTGRES_SCHEMES) or "://" in path:
        raise MemchatError(f"--from must be a SQLite database (sqlite:///path), not {path}")
    if not target.startswith(POSTGRES_SCHEMES):
        raise MemchatError(f"--to must be a postgresql:// URL, not {target}")
    store = open_store(target, encryption_key=app.settings.encryption_key)
    try:
        # Imported once the store is open: open_store reports a missing driver clearly.
        from ..store.postgres import PostgresStore
        from ..store.postgres.copy import SQLiteSource, copy_sqlite, verify

        assert isinstance(store, PostgresStore)
        copied = SQLiteSource(path)
        try:
            err = Console(stderr=True)
            columns = (
                TextColumn("copying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("items"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=err) as bar:
                task = bar.add_task("copy", total=copied.count("items"))
                report = copy_sqlite(copied, store, lambda n: bar.advance(task, n))
            verify(copied, store, report)
        finally:
            copied.close()
    finally:
        store.close()
    table = Table("table", "SQLite", "PostgreSQL", show_edge=False, box=None)
    for name, (here, there) in report.counts.items():
        table.add_row(name, str(here), str(there))
    Console().print(table)
    click.echo(
        f"copied {report.copied} session(s), skipped {report.skipped} already there;"
        f" {report.items} items from {path} to {store.location}"
    )
    if not report.verified:
        raise MemchatError("verification failed: " + "; ".join(report.mismatches))
    click.echo("verified: every count and checksum matches")
