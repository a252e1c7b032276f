"""``memchat export`` and ``memchat import``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

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
@click.option(
    "--learn", is_flag=True, help="Also learn the facts the user stated in what is imported."
)
@pass_app
def import_(app: App, path: Path, user: str | None, learn: bool) -> None:
    """Import a memchat JSONL export, an Agents SDK SQLiteSession database, or a ChatGPT
    or Claude data export (the ZIP, or its conversations.json).

    An SDK database or another app's export becomes sessions of --user. Conversations an
    earlier import brought in get the turns they gained since, or are skipped if they
    have none or no longer start as stored. Nothing is imported if any part of the file
    is bad.
    """
    owner = user if user is not None or path.suffix == ".jsonl" else user_of(app, None)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("reading conversations", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if done == total:
                bar.update(task, description="writing")

        archive = import_file(app.store, path, owner, learn=learn, progress=advance)
    names = ", ".join(f"{r.user}/{r.id}" for r in archive.sessions[:10])
    more = len(archive.sessions) - 10
    if more > 0:
        names += f" and {more} more"
    updated = ""
    if archive.updated:
        updated = f", updated {archive.updated} with {archive.new_turns} new turns"
    skipped = f", skipped {archive.skipped} imported before" if archive.skipped else ""
    branches = [branch for record in archive.sessions for branch in record.branches]
    aside = sum(len(branch.turns) for branch in branches)
    plural = "es" if len(branches) != 1 else ""
    on_branches = f" (and {aside} on {len(branches)} branch{plural})" if branches else ""
    click.echo(
        f"imported {len(archive.sessions)} session(s), {archive.turns} turns{on_branches},"
        f" {len(archive.facts)} fact(s){updated}{skipped}" + (f": {names}" if names else "")
    )
