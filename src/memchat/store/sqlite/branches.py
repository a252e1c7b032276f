"""The SQLite store's branches: listing, reading and switching them (``store/tree.py``)."""

from __future__ import annotations

import sqlite3

from .. import tree
from ..codec import turns_from_rows, unpack_item
from ..crypto import Cipher
from ..records import BranchInfo, SessionInfo, Turn, now
from .database import Database


class SQLiteBranchesMixin:
    """Branches, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None

    def _list_branches(self, session: SessionInfo) -> list[BranchInfo]:
        rows = self._db.read(lambda conn: tree.branch_rows(conn, session.pk))
        return [
            BranchInfo(
                int(branch),
                int(parent),
                int(fork),
                created_at,
                int(turns),
                None if data is None else unpack_item(self.cipher, session, item_id, data),
            )
            for branch, parent, fork, created_at, turns, item_id, data in rows
        ]

    def _branch_turns(self, session: SessionInfo, branch: int) -> list[Turn]:
        rows = self._db.read(lambda conn: tree.branch_item_rows(conn, session.pk, branch))
        return turns_from_rows(
            (seq, at, i, unpack_item(self.cipher, session, i, data)) for seq, at, i, data in rows
        )

    def _activate_branch(self, session: SessionInfo, branch: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            tree.activate(conn, session.pk, branch)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now(), session.pk))

        self._db.write(work)
