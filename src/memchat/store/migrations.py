"""Versioned, transactional schema migrations: one runner for both backends.

Each backend gives its list of named migrations (``sqlite/schema.py``,
``postgres/schema.py``: the same names, each in its dialect) and a ``Dialect``: how to run
a statement, and how to open a transaction that no other process migrating the same
database can interleave. ``migrate`` runs each migration the database lacks in one
transaction together with the row that records it in ``memchat_migrations``, so a crash
mid-migration leaves the database as it was, and a second process opening a new database
at the same moment waits rather than apply a migration twice. Opening a store migrates
it: a new and an old database take the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import StoreError

# A migration: its unique name, and the statements it runs in order.
Migration = tuple[str, Sequence[str]]


class Dialect(Protocol):
    """A backend's connection, as the runner uses it."""

    # The table that records applied migrations, in the backend's dialect.
    bookkeeping: str
    # How a bound value is written in a statement ("?" or "%s").
    placeholder: str

    def transaction(self) -> AbstractContextManager[None]:
        """One transaction, committed at the end of the block (rolled back on an error),
        that excludes every other migration of the same database while it lasts."""

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a statement that returns none)."""


def applied_migrations(dialect: Dialect) -> set[str]:
    """Names of the migrations recorded in the database."""
    return {row[0] for row in dialect.rows("SELECT name FROM memchat_migrations")}


def migrate(dialect: Dialect, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations the database lacks, in order, and return their names.

    A database that records a migration this list does not have was written by a newer
    memchat: it is refused (StoreError) before anything is applied.
    """
    with dialect.transaction():
        dialect.rows(dialect.bookkeeping)
        unknown = applied_migrations(dialect) - {name for name, _ in migrations}
    if unknown:
        raise StoreError(
            "the database was written by a newer memchat (unknown migrations: "
            + ", ".join(sorted(unknown))
            + "); upgrade memchat to open it"
        )
    mark = dialect.placeholder
    done: list[str] = []
    for name, statements in migrations:
        with dialect.transaction():
            # Checked inside the transaction: another process may have just applied it.
            if dialect.rows(f"SELECT 1 FROM memchat_migrations WHERE name = {mark}", (name,)):
                continue
            for statement in statements:
                dialect.rows(statement)
            dialect.rows(f"INSERT INTO memchat_migrations (name) VALUES ({mark})", (name,))
        done.append(name)
    return done
