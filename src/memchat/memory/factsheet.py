"""The fact sheet: what the model is told of the user's facts each turn, within its room.

A session sees the user-wide facts and, in a project whose memory is scoped, that
project's facts too, a project's fact winning over a user-wide one of the same key
(``visible_facts``). Facts of other projects are never in its view.
"""

from __future__ import annotations

from collections.abc import Callable

from ..store import Store
from ..store.records import Fact


def facts_in_view(store: Store, user: str, project: str | None) -> list[Fact]:
    """Every fact a session of ``project`` (None: no scoped project) sees or shadows: the
    project's, then the user-wide ones, each most recently updated first."""
    scoped = store.list_facts(user, project=project) if project else []
    return scoped + store.list_facts(user, project="")


def visible_facts(store: Store, user: str, project: str | None) -> list[Fact]:
    """The facts a session of ``project`` (None: no scoped project) is given, one per key
    (the project's over the user-wide one), most recently updated first."""
    seen: dict[str, Fact] = {}
    for fact in facts_in_view(store, user, project):
        seen.setdefault(fact.key, fact)
    return sorted(seen.values(), key=lambda fact: fact.position, reverse=True)


def fact_sheet(
    store: Store,
    user: str,
    limit: int,
    count: Callable[[str], int],
    project: str | None = None,
) -> str:
    """The facts a session of ``project`` sees (``visible_facts``) as "- key: value"
    lines, most recently updated first, as many as ``limit`` tokens hold (``count``
    measures a line). A changed fact shows its last earlier value, for questions about
    the past, where the room allows: the current value comes first."""
    lines: list[str] = []
    used = 0
    places = ["", project] if project else [""]
    before = {
        (version.project, version.key): version
        for place in places
        for version in store.fact_history(user, project=place)
    }
    for fact in visible_facts(store, user, project):
        line = f"- {fact.key}: {fact.value}"
        cost = count(line) + 1
        if used + cost > limit:
            break
        if (earlier := before.get((fact.project, fact.key))) is not None:
            longer = f"{line} (until {earlier.valid_to[:10]}: {earlier.value})"
            if used + (more := count(longer) + 1) <= limit:
                line, cost = longer, more
        lines.append(line)
        used += cost
    return "\n".join(lines)
