"""``memchat users``: list, add and delete users, and their API tokens for ``memchat serve``."""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table

from ..derived import forget_beside_store
from ..errors import MemchatError, UserNotFound
from ..forgetting import delete_user_verified
from .app import App, json_option, pass_app, verify_option
from .render import console, print_json, print_receipt


@click.group()
def users() -> None:
    """List, add and delete users; issue and revoke their API tokens."""


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
@verify_option
@pass_app
def delete(app: App, name: str, vacuum: bool, yes: bool, verify: bool) -> None:
    """Delete user NAME and every trace of them: sessions, messages, summaries, facts."""
    app.store.get_user(name)
    if not yes:
        click.confirm(f"delete user {name} and all their conversations?", abort=True)
    receipt = None
    if verify:
        receipt = delete_user_verified(app.store, name, vacuum=vacuum)
    else:
        app.store.delete_user(name)
        if vacuum:
            app.store.vacuum()
    forget_beside_store(app.settings.home, name)
    click.echo(f"deleted user {name}" + (" and vacuumed" if vacuum else ""))
    if receipt is not None:
        print_receipt(receipt)


@users.command()
@click.argument("name")
@click.option("--admin", is_flag=True, help="May manage users over the HTTP API.")
@pass_app
def add(app: App, name: str, admin: bool) -> None:
    """Add user NAME and print their API token (shown once, on the last line)."""
    try:
        app.store.get_user(name)
    except UserNotFound:
        pass
    else:
        raise MemchatError(
            f"user {name!r} already exists; `memchat users token {name}` issues a new token"
        )
    app.store.ensure_user(name)
    if admin:
        app.store.set_admin(name, True)
    token = app.store.create_token(name)
    role = "admin " if admin else ""
    click.echo(
        f"added {role}user {name}; their API token (shown only now, keep it safe):", err=True
    )
    click.echo(token)


@users.command()
@click.argument("name")
@pass_app
def token(app: App, name: str) -> None:
    """Issue another API token for user NAME and print it (on the last line)."""
    issued = app.store.create_token(name)
    click.echo(f"new API token for {name} (shown only now, keep it safe):", err=True)
    click.echo(issued)


@users.command()
@click.argument("name")
@pass_app
def revoke(app: App, name: str) -> None:
    """Revoke every API token of user NAME."""
    count = app.store.revoke_tokens(name)
    click.echo(f"revoked {count} token(s) of {name}")
