"""``memchat projects``: list a user's projects, scope or share a project's memory; and
the terminal's ``/project``."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click
from rich.table import Table

from .app import App, json_option, pass_app, user_of, user_option
from .render import console, escape, print_json

if TYPE_CHECKING:
    from .chat import Repl


@click.group()
def projects() -> None:
    """List projects; scope a project's memory to it, or share it again."""


@projects.command("list")
@user_option
@json_option
@pass_app
def list_(app: App, user: str | None, as_json: bool) -> None:
    """List the user's projects, with how each remembers."""
    name = user_of(app, user)
    app.store.get_user(name)
    found = app.store.list_projects(name)
    if as_json:
        print_json([asdict(project) for project in found])
        return
    if not found:
        console.print(f"{name} has no projects yet (`memchat --project NAME` starts one)")
        return
    table = Table(show_edge=False, box=None)
    for column in ("project", "memory", "sessions", "facts"):
        table.add_column(column)
    for project in found:
        memory = "scoped" if project.scoped else "shared"
        table.add_row(project.name, memory, str(project.sessions), str(project.facts))
    console.print(table)


@projects.command()
@click.argument("project", metavar="NAME")
@user_option
@pass_app
def scope(app: App, project: str, user: str | None) -> None:
    """Keep project NAME's memory to itself: facts learned in its sessions are its own,
    and its sessions are given its facts and the user-wide ones, and recall its sessions
    only."""
    name = user_of(app, user)
    app.store.get_user(name)
    app.store.set_project_memory(name, project, scoped=True)
    click.echo(f"{project}: memory scoped to the project")


@projects.command()
@click.argument("project", metavar="NAME")
@user_option
@pass_app
def share(app: App, project: str, user: str | None) -> None:
    """Share project NAME's memory again, as a session in no project does (the facts it
    learned stay its own, unused until it is scoped again)."""
    name = user_of(app, user)
    app.store.get_user(name)
    app.store.set_project_memory(name, project, scoped=False)
    click.echo(f"{project}: memory shared")


@projects.command()
@click.argument("project", metavar="NAME")
@user_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def delete(app: App, project: str, user: str | None, yes: bool) -> None:
    """Delete project NAME and its facts; its sessions stay, in no project."""
    name = user_of(app, user)
    found = app.store.get_project(name, project)
    if not yes:
        click.confirm(f"delete project {project} and its {found.facts} fact(s)?", abort=True)
    facts = app.store.delete_project(name, project)
    click.echo(f"deleted project {project} ({facts} fact(s) forgotten)")


def cmd_project(repl: Repl, arg: str) -> None:
    """``/project``: this session's project; ``/project NAME`` moves the session there
    (made if new), ``/project -`` takes it out of any."""
    info = repl.session.info
    if not arg:
        if not info.project:
            console.print("[dim]this session is in no project (/project NAME moves it)[/dim]")
            return
        found = repl.store.get_project(repl.user, info.project)
        memory = "scoped" if found.scoped else "shared"
        console.print(f"[dim]project {escape(found.name)} (memory {memory})[/dim]")
        return
    target = "" if arg == "-" else arg
    repl.session.info = repl.store.set_session_project(repl.user, info.id, target)
    console.print(f"[dim]moved this session to {escape(target) or 'no project'}[/dim]")
