"""``memchat sessions``: list, show, rename, fork, delete and clear a user's sessions."""

from __future__ import annotations

from typing import Any

import click

from ..derived import forget_beside_store
from ..forgetting import delete_session_verified
from ..store import Turn
from .app import (
    App,
    json_option,
    pass_app,
    project_option,
    user_of,
    user_option,
    verify_option,
)
from .branches import turn_number, versions
from .render import (
    console,
    counted,
    escape,
    print_history,
    print_json,
    print_receipt,
    print_sessions,
    session_json,
)


@click.group()
def sessions() -> None:
    """List, show, rename, fork, delete and clear sessions."""


@sessions.command("list")
@user_option
@click.option(
    "--project", "-p", metavar="NAME", help='Only this project\'s sessions ("": those in none).'
)
@json_option
@pass_app
def list_(app: App, user: str | None, project: str | None, as_json: bool) -> None:
    """List the user's sessions, most recent first (* marks the current one)."""
    name = user_of(app, user)
    found = app.store.list_sessions(name, project=project)
    if as_json:
        print_json([session_json(info) for info in found])
    else:
        print_sessions(found, app.store.get_user(name).current_session)


@sessions.command()
@click.option("--id", "session_id", metavar="ID", help="Its id (default: a fresh one).")
@click.option("--title", help="Its title (default: its first message's words).")
@project_option
@user_option
@pass_app
def new(
    app: App, session_id: str | None, title: str | None, project: str | None, user: str | None
) -> None:
    """Start a session (without making it the current one); print its id."""
    name = user_of(app, user)
    info = app.store.create_session(name, session_id, title=title, project=project or "")
    click.echo(info.id)


@sessions.command()
@click.argument("session_id", metavar="ID")
@click.argument("project", metavar="[PROJECT]", required=False, default="")
@user_option
@pass_app
def move(app: App, session_id: str, project: str, user: str | None) -> None:
    """Put session ID in PROJECT (made if new), or in no project without one. Facts it
    taught stay where they were learned."""
    info = app.store.set_session_project(user_of(app, user), session_id, project)
    click.echo(f"moved {session_id} to {info.project or 'no project'}")


@sessions.command()
@click.argument("session_id", metavar="ID")
@user_option
@json_option
@pass_app
def show(app: App, session_id: str, user: str | None, as_json: bool) -> None:
    """Show every message of session ID."""
    info = app.store.get_session(user_of(app, user), session_id)
    turns = app.store.get_turns(info)
    if as_json:
        data = session_json(info)
        data["turns"] = [turn_json(t) for t in turns]
        data["branches"] = [
            {
                "id": b.id,
                "parent": b.parent,
                "fork_seq": b.fork_seq,
                "created_at": b.created_at,
                "turns": [turn_json(t) for t in app.store.branch_turns(info, b.id)],
            }
            for b in app.store.list_branches(info)
        ]
        print_json(data)
        return
    console.print(f"[bold]{escape(info.display_title)}[/bold] [dim]{info.user}/{info.id}[/dim]")
    print_history(turns, versions(app.store, info))


def turn_json(turn: Turn) -> dict[str, Any]:
    """A turn as ``--json`` shows it."""
    return {"seq": turn.seq, "created_at": turn.created_at, "items": turn.items}


@sessions.command()
@click.argument("session_id", metavar="ID")
@click.option(
    "--at",
    "at",
    metavar="N",
    type=int,
    required=True,
    help="Copy turns 1 to N (as `show` numbers them).",
)
@user_option
@pass_app
def fork(app: App, session_id: str, at: int, user: str | None) -> None:
    """Copy session ID's turns up to turn N into a new session; print its id."""
    info = app.store.get_session(user_of(app, user), session_id)
    turn = turn_number(app.store, info, str(at))
    click.echo(app.store.fork_session(info, turn.seq).id)


@sessions.command()
@click.argument("session_id", metavar="ID")
@click.argument("title")
@user_option
@pass_app
def rename(app: App, session_id: str, title: str, user: str | None) -> None:
    """Set the TITLE of session ID."""
    app.store.rename_session(user_of(app, user), session_id, title)
    click.echo(f"renamed {session_id}")


@sessions.command()
@click.argument("session_id", metavar="ID")
@user_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@verify_option
@pass_app
def delete(app: App, session_id: str, user: str | None, yes: bool, verify: bool) -> None:
    """Delete session ID and all its messages."""
    name = user_of(app, user)
    app.store.get_session(name, session_id)
    if not yes:
        click.confirm(f"delete session {session_id} of {name}?", abort=True)
    receipt = None
    if verify:
        receipt = delete_session_verified(app.store, name, session_id)
    else:
        app.store.delete_session(name, session_id)
    forget_beside_store(app.settings.home, name, session_id)
    click.echo(f"deleted {session_id}")
    if receipt is not None:
        print_receipt(receipt)


@sessions.command()
@click.argument("session_id", metavar="ID")
@user_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def clear(app: App, session_id: str, user: str | None, yes: bool) -> None:
    """Delete every message of session ID, keeping the session."""
    name = user_of(app, user)
    info = app.store.get_session(name, session_id)
    if not yes:
        turns = counted(info.turn_count, "turn")
        click.confirm(f"delete the {turns} of session {session_id}?", abort=True)
    app.store.clear_session(info)
    forget_beside_store(app.settings.home, name, session_id)
    click.echo(f"cleared {session_id}")
