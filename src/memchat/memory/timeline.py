"""A fact's timeline: every value it has had, where each was said, the current one last.

What ``memchat memory history`` prints and ``GET /api/facts/{key}/history`` answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Store
from ..store.records import FactSource
from .facts import normalize_key


@dataclass(frozen=True)
class Version:
    """A value the fact had from ``valid_from`` until ``valid_to`` (None: it still has)."""

    value: str
    source: str
    valid_from: str
    valid_to: str | None
    sources: tuple[FactSource, ...]


def fact_timeline(store: Store, user: str, key: str, project: str = "") -> list[Version]:
    """The values of ``user``'s fact ``key`` (as said: "favorite color" finds "favourite
    colour") in ``project`` ("" for the user-wide fact), oldest first; empty if it never
    had one."""
    key = normalize_key(key)
    versions = [
        Version(v.value, v.source, v.valid_from, v.valid_to, tuple(v.sources))
        for v in store.fact_history(user, key, project=project)
    ]
    current = next((f for f in store.list_facts(user, project=project) if f.key == key), None)
    if current is not None:
        sources = tuple(store.fact_sources(user).get(current.id, []))
        start = current.valid_from or current.updated_at
        versions.append(Version(current.value, current.source, start, None, sources))
    return versions
