"""``memchat export`` and ``memchat import``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import MemchatError
from ..transfer import import_file, session_records, user_facts, write_jsonl, write_markdown
from .app import App, pass_app, user_of, user_option


@click.command()
@user_option
@click.option("--session", "-s", "session_id", metavar="ID", help="Only this session.")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["jsonl", "markdown"]),
    default="jsonl",
    show_default=True,
    help="JSONL (for import) or Markdown (for reading).",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@pass_app
def export(
    app: App, user: str | None, session_id: str | None, fmt: str, output: Path | None
) -> None:
    """Export one session, or all of a user's, to stdout or a file."""
    name = user_of(app, user)
    if session_id:
        chosen = [app.store.get_session(name, session_id)]
        facts = []  # facts are the user's, not one session's
    else:
        chosen = list(reversed(app.store.list_sessions(name)))
        facts = user_facts(app.store, name)
    records = session_records(app.store, chosen)
    write = write_jsonl if fmt == "jsonl" else write_markdown
    if output is None:
        write(records, sys.stdout, facts)
        return
    try:
        with output.open("w", encoding="utf-8") as handle:
            count = write(records, handle, facts)
    except OSError as exc:
        raise MemchatError(f"cannot write {output}: {exc.strerror}") from exc
    click.echo(f"exported {count} session(s) and {len(facts)} fact(s) to {output}", err=True)


@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@user_option
@pass_app
def import_(app: App, path: Path, user: str | None) -> None:
    """Import a memchat JSONL export, or an Agents SDK SQLiteSession database.

    An SDK database (such as the sessions guide's conversion.db) becomes sessions of
    --user. Nothing is imported if any part of the file is bad.
    """
    owner = user if user is not None or path.suffix == ".jsonl" else user_of(app, None)
    archive = import_file(app.store, path, owner)
    names = ", ".join(f"{r.user}/{r.id}" for r in archive.sessions)
    click.echo(
        f"imported {len(archive.sessions)} session(s), {archive.turns} turns,"
        f" {len(archive.facts)} fact(s): {names}"
    )
