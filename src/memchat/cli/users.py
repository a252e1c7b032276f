"""``memchat users``: list and delete users."""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table

from .app import App, json_option, pass_app
from .render import console, print_json


@click.group()
def users() -> None:
    """List and delete users."""


@users.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List every user with their session count."""
    found = app.store.list_users()
    counts = {user.name: len(app.store.list_sessions(user.name)) for user in found}
    if as_json:
        print_json([asdict(user) | {"sessions": counts[user.name]} for user in found])
        return
    if not found:
        console.print("no users yet")
        return
    table = Table(show_edge=False, box=None)
    for column in ("user", "sessions", "current session", "since"):
        table.add_column(column)
    for user in found:
        table.add_row(
            user.name, str(counts[user.name]), user.current_session or "", user.created_at[:10]
        )
    console.print(table)


@users.command()
@click.argument("name")
@click.option("--vacuum", is_flag=True, help="Then rewrite the database file.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def delete(app: App, name: str, vacuum: bool, yes: bool) -> None:
    """Delete user NAME and every trace of them: sessions, messages, summaries, facts."""
    app.store.get_user(name)
    if not yes:
        click.confirm(f"delete user {name} and all their conversations?", abort=True)
    app.store.delete_user(name)
    if vacuum:
        app.store.vacuum()
    click.echo(f"deleted user {name}" + (" and vacuumed" if vacuum else ""))
