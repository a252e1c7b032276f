"""Durable conversations: users, sessions, turns and items."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import Item, SessionInfo, Store, Turn, User
from .crypto import Cipher
from .session import MemchatSession
from .sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(location: str | Path, *, encryption_key: str | None = None) -> Store:
    """Open (and migrate) the store at a path or URL.

    ``sqlite:///path``, a plain path or ``:memory:`` open the SQLite store;
    ``postgresql://...`` (or ``postgres://...``) the PostgreSQL store. With an
    ``encryption_key`` (Fernet), the SQLite store encrypts content at rest.
    """
    text = str(location)
    if text.startswith(POSTGRES_SCHEMES):
        if encryption_key:
            raise ConfigError("encryption at rest is not yet available on PostgreSQL")
        # Imported here: psycopg is an optional extra, and SQLite users never load it.
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"{text.split('://')[0]}:// needs the PostgreSQL driver:"
                f" pip install 'memchat[postgres]' ({exc})"
            ) from exc
        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
        # sqlite:////abs/path keeps its leading slash; sqlite:///rel/path is relative.
    return SQLiteStore(text, cipher=Cipher(encryption_key) if encryption_key else None)


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
