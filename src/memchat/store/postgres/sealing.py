"""The PostgreSQL store's side of sealing at rest: its record, its check and its batches.

The record is the one-row table ``sealing`` (migration ``0008_sealing``); see
``sealing.py``. Item ids come from a sequence and are never given out twice, so unlike
SQLite's, the mark of checked items needs no trigger.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
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
    from .pool import Connection, Database

_STATE = "SELECT key_ids, checked_through, (SELECT coalesce(max(id), 0) FROM items) FROM sealing"


class PostgresSealingMixin:
    """Sealing's hooks, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    location: str
    cipher: Cipher | None

    def sealing_state(self) -> SealingState:
        row = self._db.read(lambda conn: conn.execute(_STATE).fetchone())
        assert row is not None  # the migration inserted the one row
        key_ids, checked_through, newest = row
        return SealingState(parse_key_ids(key_ids), int(checked_through), int(newest))

    def record_sealing(self, key_ids: Collection[str], checked_through: int) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE sealing SET key_ids = %s, checked_through = %s",
                (json.dumps(sorted(key_ids)), checked_through),
            )
        )

    def unsealed_columns(self, after_item: int, through_item: int) -> list[SealedColumn]:
        def work(conn: Connection) -> list[SealedColumn]:
            return [
                column
                for column in SEALED_COLUMNS
                if conn.execute(
                    plaintext_sql(column, "%s"), check_range(column, after_item, through_item)
                ).fetchone()
            ]

        return self._db.read(work)

    def sealed_samples(self) -> list[str]:
        def work(conn: Connection) -> list[str]:
            found = [conn.execute(sample_sql(column)).fetchone() for column in SEALED_COLUMNS]
            return [row[0] for row in found if row is not None]

        return self._db.read(work)

    def sealed_count(self) -> int:
        def work(conn: Connection) -> int:
            counts = [conn.execute(count_sql(column)).fetchone() for column in SEALED_COLUMNS]
            return sum(int(row[0]) for row in counts if row is not None)

        return self._db.read(work)

    def reseal_batch(
        self, column: SealedColumn, after: int, limit: int, reseal: Callable[[str], str | None]
    ) -> tuple[int, int] | None:
        select, update = batch_sql(column, "%s")

        def work(conn: Connection) -> tuple[int, int] | None:
            rows = conn.execute(select, (after, limit)).fetchall()
            changed = resealed_rows(column, rows, reseal)
            if changed:
                with conn.cursor() as cur:
                    cur.executemany(update, changed)
            return (int(rows[-1][0]), len(rows)) if rows else None

        return self._db.write(work)

    def sync_search_index(self) -> None:
        """An encrypted store keeps no index: drop the rows a plaintext past left in it.

        They hold the messages' words (text, context and ``tsvector``); a plain store
        writes its index with every turn, so it has nothing to catch up.
        """
        if self.cipher is None:
            return

        def work(conn: Connection) -> None:
            conn.execute("DELETE FROM messages")
            conn.execute("UPDATE sessions SET last_message = NULL WHERE last_message IS NOT NULL")

        self._db.write(work)
