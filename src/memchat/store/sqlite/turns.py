"""The SQLite store's items and turns: reading them, and writing each turn atomically.

A turn is the items of one (session_id, seq); the index items_by_turn on (session_id,
seq, id) serves every read and delete, so a turn write touches one table, one index and
the session row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ...errors import SessionNotFound
from .. import tree
from ..base import Item, SessionInfo, Turn, drop_orphan_outputs, now
from ..codec import pack_item, seal_title, turns_from_rows, unpack_item
from ..crypto import Cipher
from ..quotas import Quotas
from ..titles import title_from_items
from ..usage import TurnUsage
from ..usage_rows import insert_usage
from .database import Database
from .sessions import insert_items

_ITEM_ROWS = "SELECT seq, created_at, id, data FROM items WHERE session_id = ? AND branch = 0"


class SQLiteTurnsMixin:
    """Items and turns, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def get_items(self, session: SessionInfo, limit: int | None = None) -> list[Item]:
        def work(conn: sqlite3.Connection) -> list[Any]:
            if limit is None:
                return conn.execute(
                    "SELECT id, data FROM items WHERE session_id = ? AND branch = 0"
                    " ORDER BY seq, id",
                    (session.pk,),
                ).fetchall()
            rows = conn.execute(
                "SELECT id, data FROM items WHERE session_id = ? AND branch = 0"
                " ORDER BY seq DESC, id DESC LIMIT ?",
                (session.pk, max(limit, 0)),
            ).fetchall()
            rows.reverse()
            return rows

        rows = self._db.read(work)
        items = [unpack_item(self.cipher, session, item_id, data) for item_id, data in rows]
        return items if limit is None else drop_orphan_outputs(items)

    def last_turn(self, session: SessionInfo) -> Turn | None:
        rows = self._db.read(
            lambda conn: conn.execute(
                f"{_ITEM_ROWS} AND seq = (SELECT max(seq) FROM items WHERE session_id = ?"
                " AND branch = 0) ORDER BY id",
                (session.pk, session.pk),
            ).fetchall()
        )
        turns = self._turns(session, rows)
        return turns[0] if turns else None

    def turns_after(self, session: SessionInfo, after_seq: int, limit: int | None) -> list[Turn]:
        """Turns after ``after_seq``, oldest first; with ``limit``, the newest ``limit`` items."""
        rows = self._db.read(
            lambda conn: conn.execute(
                f"{_ITEM_ROWS} AND seq > ? ORDER BY seq DESC, id DESC LIMIT ?",
                (session.pk, after_seq, -1 if limit is None else limit),
            ).fetchall()
        )
        rows.reverse()
        return self._turns(session, rows)

    def _list_turns(self, session: SessionInfo, after_seq: int, limit: int) -> list[Turn]:
        rows = self._db.read(
            lambda conn: conn.execute(
                f"{_ITEM_ROWS} AND seq IN (SELECT DISTINCT seq FROM items WHERE session_id = ?"
                " AND branch = 0 AND seq > ? ORDER BY seq LIMIT ?) ORDER BY seq, id",
                (session.pk, session.pk, after_seq, limit),
            ).fetchall()
        )
        return self._turns(session, rows)

    def commit_turn(
        self,
        session: SessionInfo,
        items: Sequence[Item],
        *,
        replace_last: bool = False,
        edit_seq: int | None = None,
        created_at: str | None = None,
        usage: TurnUsage | None = None,
    ) -> int:
        rows = [pack_item(self.cipher, item) for item in items]
        stamp = created_at or now()

        def work(conn: sqlite3.Connection) -> int:
            edit = edit_seq
            if replace_last and edit is None:
                edit = tree.last_seq(conn, session.pk) or None
            if edit is not None:
                tree.move_aside(conn, session.pk, edit, stamp)
            seq = self._insert_turn(conn, session, items, rows, stamp)
            if usage is not None:
                insert_usage(conn, session.pk, seq, usage)
            return seq

        return self._db.write(work)

    def append_to_last_turn(self, session: SessionInfo, items: Sequence[Item]) -> None:
        rows = [pack_item(self.cipher, item) for item in items]

        def work(conn: sqlite3.Connection) -> None:
            last = conn.execute(
                "SELECT seq, created_at FROM items WHERE session_id = ? AND branch = 0"
                " ORDER BY seq DESC, id DESC LIMIT 1",
                (session.pk,),
            ).fetchone()
            if last is None:
                self._insert_turn(conn, session, items, rows, now())
                return
            insert_items(conn, session.pk, last[0], last[1], rows)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now(), session.pk))

        self._db.write(work)

    def append_to_turn(self, session: SessionInfo, seq: int, items: Sequence[Item]) -> int:
        rows = [pack_item(self.cipher, item) for item in items]

        def work(conn: sqlite3.Connection) -> int:
            found = conn.execute(
                "SELECT created_at FROM items WHERE session_id = ? AND branch = 0 AND seq = ?"
                " LIMIT 1",
                (session.pk, seq),
            ).fetchone()
            if found is None:
                return self._insert_turn(conn, session, items, rows, now())
            insert_items(conn, session.pk, seq, found[0], rows)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now(), session.pk))
            return seq

        return self._db.write(work)

    def _insert_turn(
        self,
        conn: sqlite3.Connection,
        session: SessionInfo,
        items: Sequence[Item],
        rows: list[str],
        stamp: str,
    ) -> int:
        title = seal_title(self.cipher, title_from_items(items))
        seq = _new_turn(conn, session.pk, stamp, title)
        if seq is None:
            raise SessionNotFound(f"session {session.user}/{session.id} was deleted")
        insert_items(conn, session.pk, seq, stamp, rows)
        return seq

    def pop_item(self, session: SessionInfo) -> Item | None:
        def work(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            row = conn.execute(
                "SELECT id, seq, data FROM items WHERE session_id = ? AND branch = 0"
                " ORDER BY seq DESC, id DESC LIMIT 1",
                (session.pk,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM items WHERE id = ?", (row[0],))
            if not conn.execute(
                "SELECT 1 FROM items WHERE session_id = ? AND branch = 0 AND seq = ?",
                (session.pk, row[1]),
            ).fetchone():
                self._turn_deleted(conn, session)
            return tuple(row)

        row = self._db.write(work)
        return None if row is None else unpack_item(self.cipher, session, row[0], row[2])

    def pop_turn(self, session: SessionInfo) -> Turn | None:
        last = self.last_turn(session)
        if last is not None:
            self._db.write(lambda conn: self._delete_last_turn(conn, session))
        return last

    def _delete_last_turn(self, conn: sqlite3.Connection, session: SessionInfo) -> None:
        deleted = conn.execute(
            "DELETE FROM items WHERE session_id = ? AND branch = 0 AND seq ="
            " (SELECT max(seq) FROM items WHERE session_id = ? AND branch = 0)",
            (session.pk, session.pk),
        ).rowcount
        if deleted:
            self._turn_deleted(conn, session)

    def _turn_deleted(self, conn: sqlite3.Connection, session: SessionInfo) -> None:
        # The turn count, and no summary that would keep remembering the deleted turn.
        tree.line_changed(conn, session.pk, tree.last_seq(conn, session.pk))
        tree.drop_orphans(conn, session.pk)

    def _turns(self, session: SessionInfo, rows: list[Any]) -> list[Turn]:
        return turns_from_rows(
            (seq, at, i, unpack_item(self.cipher, session, i, data)) for seq, at, i, data in rows
        )


def append_turn(
    conn: sqlite3.Connection, cipher: Cipher | None, session_pk: int, turn: Turn
) -> None:
    """Add ``turn`` at the end of a session's active line, numbered after its last turn,
    in the caller's transaction (an import's; the session exists, and keeps its title)."""
    seq = _new_turn(conn, session_pk, turn.created_at, None)
    assert seq is not None  # the caller found the session in this transaction
    insert_items(conn, session_pk, seq, turn.created_at, [pack_item(cipher, i) for i in turn.items])
    if turn.usage is not None:
        insert_usage(conn, session_pk, seq, turn.usage)


def _new_turn(
    conn: sqlite3.Connection, session_pk: int, stamp: str, title: str | None
) -> int | None:
    """Count a new turn in the session row and return its seq (None: no such session);
    an untitled session takes ``title`` (sealed, if it is to be)."""
    found = conn.execute(
        "UPDATE sessions SET last_seq = last_seq + 1, turn_count = turn_count + 1,"
        " updated_at = ?, title = coalesce(title, ?) WHERE id = ? RETURNING last_seq",
        (stamp, title, session_pk),
    ).fetchone()
    return None if found is None else int(found[0])
