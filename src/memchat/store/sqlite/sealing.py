"""The SQLite store's side of sealing at rest: its record of what is sealed.

The record is the one-row table ``sealing`` (migration ``0008_sealing``); see
``sealing.py`` for what it holds and who reads it, and ``sealed_rows.py`` for the hooks
both backends share.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING

from ..sealed_rows import SealedRowsMixin

if TYPE_CHECKING:
    from ..crypto import Cipher
    from .database import Database


class SQLiteSealingMixin(SealedRowsMixin):
    """Sealing's hooks, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    _placeholder = "?"
    location: str
    cipher: Cipher | None

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
