"""The SQLite store's branches: listing, reading and switching them (``store/tree.py``)."""

from __future__ import annotations

import sqlite3

from .. import tree
from ..branch_reads import read_branch_turns, read_branches
from ..crypto import Cipher
from ..records import BranchInfo, SessionInfo, Turn, now
from .database import Database


class SQLiteBranchesMixin:
    """Branches, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None

    def _list_branches(self, session: SessionInfo) -> list[BranchInfo]:
        return self._db.read(lambda conn: read_branches(conn, self.cipher, session))

    def _branch_turns(self, session: SessionInfo, branch: int) -> list[Turn]:
        return self._db.read(lambda conn: read_branch_turns(conn, self.cipher, session, branch))

    def _activate_branch(self, session: SessionInfo, branch: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            tree.activate(conn, session.pk, branch)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now(), session.pk))

        self._db.write(work)
