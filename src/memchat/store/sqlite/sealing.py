"""The SQLite store's side of sealing at rest: its record, its check and its batches.

The record is the one-row table ``sealing`` (migration ``0008_sealing``); see
``sealing.py`` for what it holds and who reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from ..sealing import (
    SEALED_COLUMNS,
    SealedColumn,
    SealingState,
    batch_sql,
    check_range,
    count_sql,
    parse_key_ids,
    plaintext_sql,
    resealed_rows,
    sample_sql,
)

if TYPE_CHECKING:
    from ..crypto import Cipher
    from .database import Database

_STATE = "SELECT key_ids, checked_through, (SELECT coalesce(max(id), 0) FROM items) FROM sealing"


class SQLiteSealingMixin:
    """Sealing's hooks, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    location: str
    cipher: Cipher | None

    def sealing_state(self) -> SealingState:
        key_ids, checked_through, newest = self._db.read(
            lambda conn: conn.execute(_STATE).fetchone()
        )
        return SealingState(parse_key_ids(key_ids), checked_through, newest)

    def record_sealing(self, key_ids: Collection[str], checked_through: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE sealing SET key_ids = ?", (json.dumps(sorted(key_ids)),))
            # Only over items that are still there: were the newest deleted since they were
            # checked, their ids could come back on new items, which nobody checked.
            conn.execute(
                "UPDATE sealing SET checked_through = ?"
                " WHERE ? <= (SELECT coalesce(max(id), 0) FROM items)",
                (checked_through, checked_through),
            )

        self._db.write(work)

    def unsealed_columns(self, after_item: int, through_item: int) -> list[SealedColumn]:
        def work(conn: sqlite3.Connection) -> list[SealedColumn]:
            return [
                column
                for column in SEALED_COLUMNS
                if conn.execute(
                    plaintext_sql(column, "?"), check_range(column, after_item, through_item)
                ).fetchone()
            ]

        return self._db.read(work)

    def sealed_samples(self) -> list[str]:
        found = self._db.read(
            lambda conn: [conn.execute(sample_sql(column)).fetchone() for column in SEALED_COLUMNS]
        )
        return [row[0] for row in found if row is not None]

    def sealed_count(self) -> int:
        return self._db.read(
            lambda conn: sum(
                int(conn.execute(count_sql(column)).fetchone()[0]) for column in SEALED_COLUMNS
            )
        )

    def reseal_batch(
        self, column: SealedColumn, after: int, limit: int, reseal: Callable[[str], str | None]
    ) -> tuple[int, int] | None:
        select, update = batch_sql(column, "?")

        def work(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(select, (after, limit)).fetchall()
            conn.executemany(update, resealed_rows(column, rows, reseal))
            return rows

        rows = self._db.write(work)
        return (int(rows[-1][0]), len(rows)) if rows else None
