"""``memchat usage``: what a user's turns cost, in tokens and time, per day, model or session."""

from __future__ import annotations

import click
from rich.table import Table

from ..ages import cutoff
from ..store.usage import GROUPINGS, UsageTotal, combined, total_json
from .app import App, json_option, pass_app, user_of, user_option
from .render import console, escape, print_json


def _seconds(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 1000:.2f} s"


def print_usage(totals: list[UsageTotal], by: str) -> None:
    """A table of the totals with a total line (when more than one), or a note if none."""
    if not totals:
        console.print("no usage recorded (turns are metered from this version on)")
        return
    table = Table(show_edge=False, box=None)
    # A long model name folds onto a second line rather than losing its end.
    table.add_column(by, overflow="fold")
    for column in ("turns", "in", "out", "tokens", "first token", "time"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = [*totals, combined(totals)] if len(totals) > 1 else totals
    for total in rows:
        table.add_row(
            escape(total.key),
            f"{total.turns:,}",
            f"{total.input_tokens:,}",
            f"{total.output_tokens:,}",
            f"{total.total_tokens:,}",
            _seconds(total.first_token_ms),
            _seconds(total.total_ms),
            style="bold" if len(rows) > 1 and total is rows[-1] else "",
        )
    console.print(table)


@click.command()
@user_option
@click.option("--session", "-s", "session_id", metavar="ID", help="Only this session.")
@click.option("--since", metavar="AGE", help="Only turns of the last AGE (e.g. 7d, 12h, 2w).")
@click.option(
    "--by", type=click.Choice(GROUPINGS), default="day", show_default=True, help="Sum per this."
)
@json_option
@pass_app
def usage(
    app: App, user: str | None, session_id: str | None, since: str | None, by: str, as_json: bool
) -> None:
    """Tokens (as the model reported them) and times of the user's turns.

    First token is the average time from the turn's start (memory's context assembly
    included) to the reply's first text; time, to the end of the reply. Days are UTC.
    """
    name = user_of(app, user)
    app.store.get_user(name)
    if session_id is not None:
        app.store.get_session(name, session_id)
    start = None if since is None else cutoff(since)
    totals = app.store.usage(name, session_id=session_id, since=start, by=by)
    if as_json:
        print_json(
            {
                "user": name,
                "session": session_id,
                "since": start,
                "by": by,
                "rows": [total_json(total) for total in totals],
                "total": total_json(combined(totals)),
            }
        )
    else:
        print_usage(totals, by)
