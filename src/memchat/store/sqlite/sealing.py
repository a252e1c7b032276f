"""The SQLite store's side of sealing at rest: its record, its check and its batches.

The record is the one-row table ``sealing`` (migration ``0008_sealing``); see
``sealing.py`` for what it holds and who reads it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

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

_STATE = "SELECT key_ids, checked_through, (SELECT coalesce(max(id), 0) FROM items) FROM sealing"


class SQLiteSealingMixin:
    """Sealing's hooks, mixed into :class:`SQLiteStore` (which provides the plumbing)."""

    if TYPE_CHECKING:
        location: str
        cipher: Cipher | None

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def sealing_state(self) -> SealingState:
        with self._read() as conn:
            key_ids, checked_through, newest = conn.execute(_STATE).fetchone()
        return SealingState(parse_key_ids(key_ids), checked_through, newest)

    def record_sealing(self, key_ids: Collection[str], checked_through: int) -> None:
        with self._write() as conn:
            conn.execute("UPDATE sealing SET key_ids = ?", (json.dumps(sorted(key_ids)),))
            # Only over items that are still there: were the newest deleted since they were
            # checked, their ids could come back on new items, which nobody checked.
            conn.execute(
                "UPDATE sealing SET checked_through = ?"
                " WHERE ? <= (SELECT coalesce(max(id), 0) FROM items)",
                (checked_through, checked_through),
            )

    def unsealed_columns(self, after_item: int, through_item: int) -> list[SealedColumn]:
        with self._read() as conn:
            return [
                column
                for column in SEALED_COLUMNS
                if conn.execute(
                    plaintext_sql(column, "?"), check_range(column, after_item, through_item)
                ).fetchone()
            ]

    def sealed_samples(self) -> list[str]:
        with self._read() as conn:
            found = [conn.execute(sample_sql(column)).fetchone() for column in SEALED_COLUMNS]
        return [row[0] for row in found if row is not None]

    def sealed_count(self) -> int:
        with self._read() as conn:
            return sum(conn.execute(count_sql(column)).fetchone()[0] for column in SEALED_COLUMNS)

    def reseal_batch(
        self, column: SealedColumn, after: int, limit: int, reseal: Callable[[str], str | None]
    ) -> tuple[int, int] | None:
        select, update = batch_sql(column, "?")
        with self._write() as conn:
            rows = conn.execute(select, (after, limit)).fetchall()
            conn.executemany(update, resealed_rows(column, rows, reseal))
        return (int(rows[-1][0]), len(rows)) if rows else None
