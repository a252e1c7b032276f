"""The fact sheet: what the model is told of the user's facts each turn, within its room."""

from __future__ import annotations

from collections.abc import Callable

from ..store import Store


def fact_sheet(store: Store, user: str, limit: int, count: Callable[[str], int]) -> str:
    """The user's facts as "- key: value" lines, most recently updated first, as many as
    ``limit`` tokens hold (``count`` measures a line). A changed fact shows its last
    earlier value, for questions about the past, where the room allows: the current
    value comes first."""
    lines: list[str] = []
    used = 0
    before = {version.key: version for version in store.fact_history(user)}
    for fact in store.list_facts(user):
        line = f"- {fact.key}: {fact.value}"
        cost = count(line) + 1
        if used + cost > limit:
            break
        if (earlier := before.get(fact.key)) is not None:
            longer = f"{line} (until {earlier.valid_to[:10]}: {earlier.value})"
            if used + (more := count(longer) + 1) <= limit:
                line, cost = longer, more
        lines.append(line)
        used += cost
    return "\n".join(lines)
