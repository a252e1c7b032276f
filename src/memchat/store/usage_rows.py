"""Usage rows, written and read once for both backends (``usage.py`` holds the records,
each backend's ``usage.py`` its table): a row per turn that has one, keyed by the turn's
first item, so it follows the turn and goes with it."""

from __future__ import annotations

import sqlite3
from typing import Any

from .records import SessionInfo
from .tree import run
from .usage import (
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

# The turn's first item is found by the items_by_turn index.
_INSERT = (
    f"INSERT INTO turn_usage (item_id, {USAGE_COLUMNS})"
    " SELECT min(id), ?, ?, ?, ?, ?, ? FROM items WHERE session_id = ? AND seq = ?"
    " HAVING min(id) IS NOT NULL"
)
_TURNS = (
    f"SELECT {TURN_USAGE_COLUMNS} FROM turn_usage u JOIN items i ON i.id = u.item_id"
    " WHERE i.session_id = ? ORDER BY i.seq"
)


def insert_usage(conn: Any, session_pk: int, seq: int, usage: TurnUsage) -> None:
    """Store the usage of the turn ``seq`` of a session, in the caller's transaction."""
    run(conn, _INSERT, (*usage_values(usage), session_pk, seq))


class UsageRowsMixin:
    """Reading usage, mixed into each backend's store (which provides ``_db``)."""

    _db: Any

    def _usage(
        self, user: str, session_id: str | None, since: str | None, by: Grouping
    ) -> list[UsageTotal]:
        args = (user, *(v for v in (session_id, since) if v is not None))

        def read(conn: Any) -> list[Any]:
            param = "?" if isinstance(conn, sqlite3.Connection) else "%s"
            query = grouped_usage_sql(
                by, session=session_id is not None, since=since is not None, param=param
            )
            return list(conn.execute(query, args).fetchall())

        return [usage_total(row) for row in self._db.read(read)]

    def _turn_usage(self, session: SessionInfo) -> dict[int, TurnUsage]:
        rows = self._db.read(lambda conn: run(conn, _TURNS, (session.pk,)).fetchall())
        return turn_usage_of(rows)
