"""Durable conversations: users, sessions, turns and items."""

from __future__ import annotations

from pathlib import Path

from .base import Item, SessionInfo, Store, Turn, User
from .session import MemchatSession
from .sqlite import SQLiteStore


def open_store(location: str | Path) -> Store:
    """Open (and migrate) the store at a path or URL.

    ``sqlite:///path``, a plain path or ``:memory:`` open the SQLite store.
    """
    text = str(location)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
        # sqlite:////abs/path keeps its leading slash; sqlite:///rel/path is relative.
    return SQLiteStore(text)


__all__ = [
    "Item",
    "MemchatSession",
    "SQLiteStore",
    "SessionInfo",
    "Store",
    "Turn",
    "User",
    "open_store",
]
