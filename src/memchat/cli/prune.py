"""``memchat prune``: delete conversations older than a retention period."""

from __future__ import annotations

import click

from ..ages import cutoff
from ..derived import forget_beside_store
from ..forgetting import prune_verified
from .app import App, pass_app, verify_option
from .render import counted, print_receipt


@click.command()
@click.option("--older-than", "age", required=True, metavar="AGE", help="e.g. 90d, 12h, 2w.")
@click.option("--user", "-u", metavar="NAME", help="Only this user (default: everyone).")
@click.option("--facts", is_flag=True, help="Also forget facts not updated since then.")
@click.option("--vacuum", is_flag=True, help="Then rewrite the database file.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@verify_option
@pass_app
def prune(
    app: App, age: str, user: str | None, facts: bool, vacuum: bool, yes: bool, verify: bool
) -> None:
    """Delete turns older than AGE; sessions left empty go too."""
    stamp = cutoff(age)
    if user is not None:
        app.store.get_user(user)
    if not yes:
        who = user or "every user"
        click.confirm(f"delete everything of {who} older than {stamp[:19]}?", abort=True)
    receipt = None
    if verify:
        report, receipt = prune_verified(app.store, stamp, user=user, facts=facts, vacuum=vacuum)
    else:
        report = app.store.prune(stamp, user=user, facts=facts)
        if vacuum:
            app.store.vacuum()
    if report.turns:
        # The saved prompt states of the sessions it touched hold the pruned turns' tokens.
        forget_beside_store(app.settings.home, user)
    click.echo(
        f"pruned {counted(report.turns, 'turn')}, {counted(report.sessions, 'empty session')}"
        + (f", {counted(report.facts, 'fact')}" if facts else "")
        + (" and vacuumed" if vacuum else "")
    )
    if receipt is not None:
        print_receipt(receipt)
