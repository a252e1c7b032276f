"""``memchat projects``: list a user's projects, scope or share a project's memory."""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table

from .app import App, json_option, pass_app, user_of, user_option
from .render import console, print_json


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
