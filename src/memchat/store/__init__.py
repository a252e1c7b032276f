"""Durable conversations: users, sessions, turns and items."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import Item, SessionInfo, Store, Turn, User
from .blind import BlindTerms
from .crypto import Cipher
from .session import MemchatSession
from .sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    location: str | Path, *, encryption_key: str | None = None, encrypted_search: bool = False
) -> Store:
    """Open (and migrate) the store at a path or URL.

    ``sqlite:///path``, a plain path or ``:memory:`` open the SQLite store;
    ``postgresql://...`` (or ``postgres://...``) the PostgreSQL store. With an
    ``encryption_key`` (Fernet), either store encrypts content at rest; with
    ``encrypted_search`` too, the SQLite store keeps a keyed search index (``blind.py``).
    """
    text = str(location)
    cipher = Cipher(encryption_key) if encryption_key else None
    if text.startswith(POSTGRES_SCHEMES):
        # Imported here: psycopg is an optional extra, and SQLite users never load it.
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"{text.split('://')[0]}:// needs the PostgreSQL driver:"
                f" pip install 'memchat[postgres]' ({exc})"
            ) from exc
        if cipher is not None and encrypted_search:
            raise ConfigError(
                "MEMCHAT_ENCRYPTED_SEARCH is not yet available on PostgreSQL: unset it"
                " (an encrypted PostgreSQL store keeps no search index)"
            )
        return PostgresStore(text, cipher=cipher)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
        # sqlite:////abs/path keeps its leading slash; sqlite:///rel/path is relative.
    blind = BlindTerms.from_keys(encryption_key) if encryption_key and encrypted_search else None
    return SQLiteStore(text, cipher=cipher, blind=blind)


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
