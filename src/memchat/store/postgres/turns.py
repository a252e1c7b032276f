"""The PostgreSQL store's items and turns: reading them, and writing each turn atomically.

A turn is the items of one (session_id, seq), in id order; the index ``items_by_turn`` on
(session_id, seq, id) serves every read and delete. A turn's items, its session's counters
and its messages' search index rows are written by one statement (``insert_items_sql``).
With a cipher, items and titles are sealed and no index rows are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import SessionNotFound
from .. import tree
from ..codec import pack_item, turns_from_rows, unpack_item
from ..crypto import Cipher, seal
from ..items import drop_orphan_outputs
from ..quotas import Quotas
from ..records import (
    Item,
    SessionInfo,
    Turn,
    now,
)
from ..titles import title_from_items
from ..usage import TurnUsage
from ..usage_rows import insert_usage
from .index import SET_LAST_MESSAGE, find_last_message, insert_items_sql, message_params
from .sessions import ADD_TO_TURN

if TYPE_CHECKING:
    from .pool import Connection, Database

# One statement writes a whole turn: the session's counters, the items and their search
# index rows. In autocommit mode it would be a transaction by itself; it runs inside an
# explicit one all the same, so that a dropped connection is noticed at BEGIN, when a retry
# is still certainly safe.
_COMMIT_TURN = insert_items_sql(
    "UPDATE sessions SET last_seq = last_seq + 1, turn_count = turn_count + 1,"
    f" updated_at = %(stamp)s, title = coalesce(title, %(title)s), {SET_LAST_MESSAGE}"
    " WHERE id = %(pk)s RETURNING id AS pk, last_seq AS seq, %(stamp)s::text AS stamp"
)
_ITEM_ROWS = "SELECT seq, created_at, id, data FROM items WHERE session_id = %s AND branch = 0"


class PostgresTurnsMixin:
    """Items and turns, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def get_items(self, session: SessionInfo, limit: int | None = None) -> list[Item]:
        def work(conn: Connection) -> list[tuple[Any, ...]]:
            if limit is None:
                return conn.execute(
                    "SELECT id, data FROM items WHERE session_id = %s AND branch = 0"
                    " ORDER BY seq, id",
                    (session.pk,),
                ).fetchall()
            rows = conn.execute(
                "SELECT id, data FROM items WHERE session_id = %s AND branch = 0"
                " ORDER BY seq DESC, id DESC LIMIT %s",
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
                f"{_ITEM_ROWS} AND seq = (SELECT max(seq) FROM items WHERE session_id = %s"
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
                f"{_ITEM_ROWS} AND seq > %s ORDER BY seq DESC, id DESC LIMIT %s",
                (session.pk, after_seq, limit),
            ).fetchall()
        )
        rows.reverse()
        return self._turns(session, rows)

    def _list_turns(self, session: SessionInfo, after_seq: int, limit: int) -> list[Turn]:
        rows = self._db.read(
            lambda conn: conn.execute(
                f"{_ITEM_ROWS} AND seq IN (SELECT DISTINCT seq FROM items WHERE session_id = %s"
                " AND branch = 0 AND seq > %s ORDER BY seq LIMIT %s) ORDER BY seq, id",
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
        stamp = created_at or now()
        params = {
            "pk": session.pk,
            "stamp": stamp,
            "title": _title(self.cipher, items),
            **self._rows(items),
        }

        def work(conn: Connection) -> int:
            edit = edit_seq
            if replace_last and edit is None:
                edit = tree.last_seq(conn, session.pk) or None
            if edit is not None:
                tree.move_aside(conn, session.pk, edit, stamp)
                find_last_message(conn, session.pk)
            row = conn.execute(_COMMIT_TURN, params).fetchone()
            if row is None:
                raise SessionNotFound(f"session {session.user}/{session.id} was deleted")
            if usage is not None:
                insert_usage(conn, session.pk, int(row[0]), usage)
            return int(row[0])

        return self._db.write(work)

    def append_to_last_turn(self, session: SessionInfo, items: Sequence[Item]) -> None:
        params = self._rows(items)

        def work(conn: Connection) -> None:
            last = conn.execute(
                "SELECT seq, created_at FROM items WHERE session_id = %s AND branch = 0"
                " ORDER BY seq DESC, id DESC LIMIT 1",
                (session.pk,),
            ).fetchone()
            if last is None:
                stamp = now()
                turn = {"pk": session.pk, "stamp": stamp, "title": _title(self.cipher, items)}
                if conn.execute(_COMMIT_TURN, {**turn, **params}).fetchone() is None:
                    raise SessionNotFound(f"session {session.user}/{session.id} was deleted")
                return
            seq, stamp = last
            turn = {"pk": session.pk, "seq": seq, "stamp": stamp, "updated": now()}
            conn.execute(ADD_TO_TURN, {**turn, **params})

        self._db.write(work)

    def append_to_turn(self, session: SessionInfo, seq: int, items: Sequence[Item]) -> int:
        params = self._rows(items)

        def work(conn: Connection) -> int:
            found = conn.execute(
                "SELECT created_at FROM items WHERE session_id = %s AND branch = 0"
                " AND seq = %s LIMIT 1",
                (session.pk, seq),
            ).fetchone()
            if found is None:
                turn = {"pk": session.pk, "stamp": now(), "title": _title(self.cipher, items)}
                row = conn.execute(_COMMIT_TURN, {**turn, **params}).fetchone()
                if row is None:
                    raise SessionNotFound(f"session {session.user}/{session.id} was deleted")
                return int(row[0])
            turn = {"pk": session.pk, "seq": seq, "stamp": found[0], "updated": now()}
            conn.execute(ADD_TO_TURN, {**turn, **params})
            return seq

        return self._db.write(work)

    def pop_item(self, session: SessionInfo) -> Item | None:
        def work(conn: Connection) -> tuple[Any, ...] | None:
            row = conn.execute(
                "DELETE FROM items WHERE id = (SELECT id FROM items WHERE session_id = %s"
                " AND branch = 0 ORDER BY seq DESC, id DESC LIMIT 1) RETURNING id, seq, data",
                (session.pk,),
            ).fetchone()
            if (
                row is not None
                and not conn.execute(
                    "SELECT 1 FROM items WHERE session_id = %s AND branch = 0 AND seq = %s",
                    (session.pk, row[1]),
                ).fetchone()
            ):
                _turn_deleted(conn, session)
            if row is not None:
                find_last_message(conn, session.pk)
            return row

        row = self._db.write(work)
        return None if row is None else unpack_item(self.cipher, session, row[0], row[2])

    def pop_turn(self, session: SessionInfo) -> Turn | None:
        last = self.last_turn(session)
        if last is not None:
            self._db.write(lambda conn: _delete_last_turn(conn, session))
        return last

    def _rows(self, items: Sequence[Item]) -> dict[str, str]:
        """``insert_items_sql``'s rows for ``items``: sealed and not indexed if encrypted."""
        data = [pack_item(self.cipher, item) for item in items]
        return message_params(items, data, index=self.cipher is None)

    def _turns(self, session: SessionInfo, rows: list[tuple[Any, ...]]) -> list[Turn]:
        return turns_from_rows(
            (seq, at, item_id, unpack_item(self.cipher, session, item_id, data))
            for seq, at, item_id, data in rows
        )


def _title(cipher: Cipher | None, items: Sequence[Item]) -> str | None:
    """The title a turn gives an untitled session, sealed if there is a cipher."""
    title = title_from_items(items)
    return None if title is None else seal(cipher, title)


def _delete_last_turn(conn: Connection, session: SessionInfo) -> None:
    deleted = conn.execute(
        "DELETE FROM items WHERE session_id = %s AND branch = 0 AND seq ="
        " (SELECT max(seq) FROM items WHERE session_id = %s AND branch = 0)",
        (session.pk, session.pk),
    ).rowcount
    if deleted:
        _turn_deleted(conn, session)
        find_last_message(conn, session.pk)


def _turn_deleted(conn: Connection, session: SessionInfo) -> None:
    # The turn count, and no summary that would keep remembering the deleted turn.
    tree.line_changed(conn, session.pk, tree.last_seq(conn, session.pk))
    tree.drop_orphans(conn, session.pk)


def append_turn(conn: Connection, cipher: Cipher | None, session_pk: int, turn: Turn) -> None:
    """Add ``turn`` at the end of a session's active line, numbered after its last turn,
    in the caller's transaction (an import's; the session exists, and keeps its title)."""
    data = [pack_item(cipher, item) for item in turn.items]
    params = {"pk": session_pk, "stamp": turn.created_at, "title": None}
    rows = message_params(turn.items, data, index=cipher is None)
    row = conn.execute(_COMMIT_TURN, params | rows).fetchone()
    assert row is not None  # the caller found the session in this transaction
    if turn.usage is not None:
        insert_usage(conn, session_pk, int(row[0]), turn.usage)
