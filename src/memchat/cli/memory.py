"""``memchat memory``: see, add and forget what memchat knows about a user."""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table

from ..forgetting import forget_fact_verified
from ..memory.facts import normalize_key
from ..memory.forget import forget_fact
from .app import App, json_option, pass_app, user_of, user_option, verify_option
from .render import console, print_json, print_receipt


@click.group()
def memory() -> None:
    """See, add and forget the facts memchat keeps about a user."""


@memory.command("list")
@user_option
@json_option
@pass_app
def list_(app: App, user: str | None, as_json: bool) -> None:
    """List the user's facts, most recent first."""
    name = user_of(app, user)
    app.store.get_user(name)
    facts = app.store.list_facts(name)
    if as_json:
        print_json([asdict(fact) for fact in facts])
        return
    if not facts:
        console.print(f"no facts about {name} yet")
        return
    table = Table(show_edge=False, box=None)
    for column in ("id", "key", "value", "from", "updated"):
        table.add_column(column)
    for fact in facts:
        table.add_row(str(fact.id), fact.key, fact.value, fact.source, fact.updated_at[:10])
    console.print(table)


@memory.command()
@click.argument("key")
@click.argument("value")
@user_option
@pass_app
def add(app: App, key: str, value: str, user: str | None) -> None:
    """Remember that the user's KEY is VALUE (replacing an older value)."""
    name = user_of(app, user)
    app.store.ensure_user(name)
    fact = app.store.set_fact(name, normalize_key(key), value.strip(), "manual")
    click.echo(f"remembered {fact.key}: {fact.value}")


@memory.command()
@click.argument("key_or_id")
@user_option
@verify_option
@pass_app
def forget(app: App, key_or_id: str, user: str | None, verify: bool) -> None:
    """Forget the fact with KEY_OR_ID (see `memchat memory list`)."""
    name = user_of(app, user)
    if verify:
        forgotten, receipt = forget_fact_verified(app.store, name, key_or_id)
    else:
        forgotten, receipt = forget_fact(app.store, name, key_or_id), None
    fact, messages = forgotten.fact, forgotten.messages
    click.echo(f"forgot {fact.key}: {fact.value} ({messages} message(s) no longer recalled)")
    if receipt is not None:
        print_receipt(receipt)
