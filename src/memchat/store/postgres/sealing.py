"""The PostgreSQL store's side of sealing at rest: its record of what is sealed.

The record is the one-row table ``sealing`` (migration ``0008_sealing``); see
``sealing.py``, and ``sealed_rows.py`` for the hooks both backends share. Item ids come
from a sequence and are never given out twice, so unlike SQLite's, the mark of checked
items needs no trigger.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING

from ..sealed_rows import SealedRowsMixin

if TYPE_CHECKING:
    from ..crypto import Cipher
    from .pool import Connection, Database


class PostgresSealingMixin(SealedRowsMixin):
    """Sealing's hooks, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    _placeholder = "%s"
    location: str
    cipher: Cipher | None

    def record_sealing(self, key_ids: Collection[str], checked_through: int) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE sealing SET key_ids = %s, checked_through = %s",
                (json.dumps(sorted(key_ids)), checked_through),
            )
        )

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
