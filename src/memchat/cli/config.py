"""``memchat config``: every setting, its value and where it came from."""

from __future__ import annotations

import click
from rich.table import Table

from ..errors import ModelNotConfigured
from .app import App, json_option, pass_app
from .render import console, print_json


@click.command()
@json_option
@pass_app
def config(app: App, as_json: bool) -> None:
    """Show the configuration and the model it selects."""
    from ..chat import MemoryPlan  # with the SDK, which other commands do not load

    in_force = {"recall_k": "as many as the budget holds"}
    try:
        model = app.model.description
        plan = MemoryPlan.of(app.settings, app.model)
        memory = str(plan)
        in_force["context_tokens"] = f"{plan.budget} (for {app.model.name})"
    except ModelNotConfigured as exc:
        model, memory = f"none: {exc}", "none (no model)"
    rows = app.settings.describe(in_force)
    if as_json:
        print_json(
            {
                "settings": [dict(zip(("name", "value", "source"), r, strict=True)) for r in rows],
                "model": model,
                "memory": memory,
            }
        )
        return
    table = Table(show_edge=False, box=None)
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"\nmodel: {model}", markup=False, soft_wrap=True)
    console.print(f"memory: {memory}", markup=False, soft_wrap=True)
