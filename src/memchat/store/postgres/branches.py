"""The PostgreSQL store's branches: listing, reading and switching them (``store/tree.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import tree
from ..branch_reads import read_branch_turns, read_branches
from ..crypto import Cipher
from ..records import BranchInfo, SessionInfo, Turn, now
from .index import find_last_message

if TYPE_CHECKING:
    from .pool import Connection, Database


class PostgresBranchesMixin:
    """Branches, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None

    def _list_branches(self, session: SessionInfo) -> list[BranchInfo]:
        return self._db.read(lambda conn: read_branches(conn, self.cipher, session))

    def _branch_turns(self, session: SessionInfo, branch: int) -> list[Turn]:
        return self._db.read(lambda conn: read_branch_turns(conn, self.cipher, session, branch))

    def _activate_branch(self, session: SessionInfo, branch: int) -> None:
        def work(conn: Connection) -> Any:
            tree.activate(conn, session.pk, branch)
            # The newest message of the line, which the next turn's messages follow.
            find_last_message(conn, session.pk)
            conn.execute("UPDATE sessions SET updated_at = %s WHERE id = %s", (now(), session.pk))

        self._db.write(work)
