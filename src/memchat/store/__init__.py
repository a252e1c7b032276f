"""Durable conversations: users, sessions, turns and items."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import sealing
from .base import Item, SessionInfo, Store, Turn, User
from .crypto import Cipher
from .quotas import Quotas
from .sqlite import SQLiteStore
from .sqlite.blind import BlindTerms

if TYPE_CHECKING:
    from .session import MemchatSession

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def __getattr__(name: str) -> Any:
    # MemchatSession brings the Agents SDK (about a second to import): loaded when first
    # used, so that commands that never run a model start fast.
    if name == "MemchatSession":
        from .session import MemchatSession

        return MemchatSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(
    location: str | Path,
    *,
    encryption_key: str | None = None,
    encrypted_search: bool = False,
    check_sealed: bool = True,
    quotas: Quotas | None = None,
) -> Store:
    """Open (and migrate) the store at a path or URL.

    ``sqlite:///path``, a plain path or ``:memory:`` open the SQLite store;
    ``postgresql://...`` (or ``postgres://...``) the PostgreSQL store. With an
    ``encryption_key`` (Fernet), either store encrypts content at rest; with
    ``encrypted_search`` too, the SQLite store keeps a keyed search index (``sqlite/blind.py``).

    A store that an ``encryption_key`` meets with plaintext in it, or with rows sealed
    under a key it lacks, is refused (UnsealedData, KeyMismatch; see ``sealing.py``),
    unless ``check_sealed`` is False: ``memchat encrypt`` and ``rekey`` open it to seal it.

    ``quotas`` caps each user's sessions and facts (default: ``Quotas()``'s).
    """
    store = _open(location, encryption_key, encrypted_search)
    if quotas is not None:
        store.quotas = quotas
    if check_sealed and encryption_key:
        try:
            sealing.check_sealed(sealing.sealable(store))
        except BaseException:
            store.close()
            raise
    return store


def _open(location: str | Path, encryption_key: str | None, encrypted_search: bool) -> Store:
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
    "Quotas",
    "SQLiteStore",
    "SessionInfo",
    "Store",
    "Turn",
    "User",
    "open_store",
]
