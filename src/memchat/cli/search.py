"""``memchat search``: full-text search over a user's messages, best matches first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import click
from rich.text import Text

from ..store.base import SearchHit
from ..store.snippets import HIGHLIGHT, bracketed, snippet_parts
from .app import App, json_option, pass_app, user_of, user_option
from .render import console, escape, print_json


def print_hits(hits: Sequence[SearchHit]) -> None:
    """Each hit's session, date and role, then its snippet with the matched words in bold."""
    if not hits:
        console.print("[dim]no matches[/dim]")
        return
    for hit in hits:
        when = hit.created_at[:16].replace("T", " ")
        title = escape(hit.session_title or "(untitled)")
        console.print(f"[dim]{escape(hit.session_id)} · {title} · {when} · {hit.role}[/dim]")
        console.print(_highlighted(hit.snippet))


def _highlighted(snippet: str) -> Text:
    """The snippet as rich text, the marked words in bold (no markup is parsed)."""
    text = Text("  ")
    for piece, matched in snippet_parts(snippet):
        text.append(piece, style="bold yellow" if matched else "")
    return text


def find(app: App, user: str, query: str, limit: int, session_id: str | None) -> list[SearchHit]:
    """The user's matching messages, after checking that the user (and session) exist."""
    app.store.get_user(user)
    if session_id is not None:
        app.store.get_session(user, session_id)
    return app.store.search(user, query, limit=limit, session_id=session_id, highlight=HIGHLIGHT)


@click.command()
@click.argument("query")
@user_option
@click.option("--session", "-s", "session_id", metavar="ID", help="Only this session.")
@click.option(
    "--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 1000), help="At most N."
)
@json_option
@pass_app
def search(
    app: App, query: str, user: str | None, session_id: str | None, limit: int, as_json: bool
) -> None:
    """Search the user's messages for QUERY (all its words, else any), best first."""
    hits = find(app, user_of(app, user), query, limit, session_id)
    if as_json:
        rows = [asdict(hit) for hit in hits]
        for row in rows:
            row["snippet"] = bracketed(row["snippet"])
        print_json(rows)
    else:
        print_hits(hits)
