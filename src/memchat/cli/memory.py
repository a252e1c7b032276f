"""``memchat memory``: see, add and forget what memchat knows about a user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import click
from rich.table import Table

from ..forgetting import forget_fact_verified
from ..memory.facts import normalize_key
from ..memory.forget import forget_fact
from ..memory.timeline import fact_timeline
from ..store.records import FactSource
from .app import App, json_option, pass_app, user_of, user_option, verify_option
from .render import console, print_json, print_receipt

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def memory() -> None:
    """See, add and forget the facts memchat keeps about a user."""


def _project_option(does: str) -> Callable[[F], F]:
    return click.option("--project", "-p", metavar="NAME", help=does)


@memory.command("list")
@user_option
@click.option("--sources", is_flag=True, help="Show the messages each fact came from.")
@_project_option('Only this project\'s facts ("": the user-wide ones; default: all).')
@json_option
@pass_app
def list_(app: App, user: str | None, sources: bool, project: str | None, as_json: bool) -> None:
    """List the user's facts, most recent first (a scoped project's marked with it)."""
    name = user_of(app, user)
    app.store.get_user(name)
    facts = app.store.list_facts(name, project=project)
    origins = app.store.fact_sources(name) if sources or as_json else {}
    if as_json:
        print_json(
            [
                asdict(fact) | {"sources": [asdict(s) for s in origins.get(fact.id, [])]}
                for fact in facts
            ]
        )
        return
    if not facts:
        console.print(f"no facts about {name} yet")
        return
    table = Table(show_edge=False, box=None)
    # The project column only where some fact is a project's.
    placed = any(fact.project for fact in facts)
    for column in ("id", "key", "value", *(["project"] if placed else []), "from", "updated"):
        table.add_column(column)
    said = _messages(app, name, origins) if sources else {}
    for fact in facts:
        where = [fact.project] if placed else []
        table.add_row(str(fact.id), fact.key, fact.value, *where, fact.source, fact.updated_at[:10])
        for origin in origins.get(fact.id, []):
            quoted = f"[dim]{said.get(origin.item_id, '')}[/dim]"
            table.add_row("", "", quoted, *([""] if placed else []), str(origin), "")
    console.print(table)


@memory.command()
@click.argument("key")
@user_option
@_project_option("The fact of this project (default: the user-wide one).")
@json_option
@pass_app
def history(app: App, key: str, user: str | None, project: str | None, as_json: bool) -> None:
    """Show every value the fact KEY has had, with when and where it was said."""
    name = user_of(app, user)
    app.store.get_user(name)
    versions = fact_timeline(app.store, name, key, project or "")
    if as_json:
        print_json([asdict(version) for version in versions])
        return
    if not versions:
        raise click.ClickException(
            f"{name} has no fact {normalize_key(key)!r} and none in its history"
        )
    table = Table(show_edge=False, box=None)
    for column in ("value", "from", "until", "said in"):
        table.add_column(column)
    for version in versions:
        said_in = ", ".join(str(s) for s in version.sources) or version.source
        end = version.valid_to[:10] if version.valid_to else "now"
        table.add_row(version.value, version.valid_from[:10], end, said_in)
    console.print(table)


def _messages(app: App, user: str, origins: dict[int, list[FactSource]]) -> dict[int, str]:
    """The text of the source messages, cut short, by item id."""
    ids = [s.item_id for found in origins.values() for s in found]
    found = app.store.get_messages(user, ids, branches=True) if ids and app.store.searchable else []
    return {m.item_id: m.text if len(m.text) <= 60 else m.text[:59] + "…" for m in found}


@memory.command()
@click.argument("key")
@click.argument("value")
@user_option
@_project_option("A fact of this project only (default: user-wide).")
@pass_app
def add(app: App, key: str, value: str, user: str | None, project: str | None) -> None:
    """Remember that the user's KEY is VALUE (replacing an older value)."""
    name = user_of(app, user)
    app.store.ensure_user(name)
    fact = app.store.set_fact(
        name, normalize_key(key), value.strip(), "manual", project=project or ""
    )
    click.echo(f"remembered {fact.key}: {fact.value}")


@memory.command()
@click.argument("key_or_id")
@user_option
@_project_option("The fact KEY of this project (default: the user-wide one).")
@verify_option
@pass_app
def forget(app: App, key_or_id: str, user: str | None, project: str | None, verify: bool) -> None:
    """Forget the fact with KEY_OR_ID (see `memchat memory list`)."""
    name = user_of(app, user)
    place = project or ""
    if verify:
        forgotten, receipt = forget_fact_verified(app.store, name, key_or_id, project=place)
    else:
        forgotten, receipt = forget_fact(app.store, name, key_or_id, project=place), None
    fact, messages = forgotten.fact, forgotten.messages
    click.echo(f"forgot {fact.key}: {fact.value} ({messages} message(s) no longer recalled)")
    if receipt is not None:
        print_receipt(receipt)
