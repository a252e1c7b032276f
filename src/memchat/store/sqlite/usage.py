"""The SQLite store's usage per turn (see ``store/usage.py``): one row per turn that has one."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from ..records import SessionInfo
from ..usage import (
    TURN_USAGE_COLUMNS,
    USAGE_COLUMNS,
    Grouping,
    TurnUsage,
    UsageTotal,
    grouped_usage_sql,
    turn_usage_of,
    usage_total,
    usage_values,
)

if TYPE_CHECKING:
    from .database import Database

# Keyed by the turn's first item, so the row follows the turn and goes with it.
USAGE_SCHEMA = (
    """
    CREATE TABLE turn_usage (
        item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        first_token_ms INTEGER,
        total_ms INTEGER
    )
    """,
)

# The turn's first item is found by the items_by_turn index (session_id, seq, id).
_INSERT = (
    f"INSERT INTO turn_usage (item_id, {USAGE_COLUMNS})"
    " SELECT min(id), ?, ?, ?, ?, ?, ? FROM items WHERE session_id = ? AND seq = ?"
    " HAVING min(id) IS NOT NULL"
)


def insert_usage(conn: sqlite3.Connection, session_pk: int, seq: int, usage: TurnUsage) -> None:
    """Store the usage of the turn ``seq`` of a session, in the caller's transaction."""
    conn.execute(_INSERT, (*usage_values(usage), session_pk, seq))


class SQLiteUsageMixin:
    """Reading usage, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database

    def _usage(
        self, user: str, session_id: str | None, since: str | None, by: Grouping
    ) -> list[UsageTotal]:
        query = grouped_usage_sql(
            by, session=session_id is not None, since=since is not None, param="?"
        )
        args = [user, *(v for v in (session_id, since) if v is not None)]
        rows = self._db.read(lambda conn: conn.execute(query, args).fetchall())
        return [usage_total(row) for row in rows]

    def _turn_usage(self, session: SessionInfo) -> dict[int, TurnUsage]:
        rows = self._db.read(
            lambda conn: conn.execute(
                f"SELECT {TURN_USAGE_COLUMNS} FROM turn_usage u JOIN items i ON i.id = u.item_id"
                " WHERE i.session_id = ? ORDER BY i.seq",
                (session.pk,),
            ).fetchall()
        )
        return turn_usage_of(rows)
