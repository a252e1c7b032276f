"""The SQLite store's items and turns: reading them, and writing each turn atomically.

A turn is the items of one (session_id, seq); the index items_by_turn on (session_id,
seq, id) serves every read and delete, so a turn write touches one table, one index and
the session row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ...errors import SessionExists, SessionNotFound
from ..base import (
    FactRecord,
    Item,
    SessionInfo,
    SessionRecord,
    Turn,
    drop_orphan_outputs,
    hidden_ids,
    now,
)
from ..codec import fact_values, pack_item, seal_title, turns_from_rows, unpack_item
from ..crypto import Cipher, seal
from ..quotas import Quotas
from ..titles import title_from_items
from ..usage import TurnUsage
from .memory import count_of
from .usage import insert_usage

# A fact imported replaces the stored one of its key only if it is newer.
_IMPORT_FACT = (
    "INSERT INTO facts (user_id, key, value, source, created_at, updated_at)"
    " SELECT id, ?, ?, ?, ?, ? FROM users WHERE name = ?"
    " ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value,"
    " source = excluded.source, updated_at = excluded.updated_at"
    " WHERE excluded.updated_at > facts.updated_at"
)


class SQLiteTurnsMixin:
    """Items and turns, mixed into :class:`SQLiteStore` (which provides the plumbing)."""

    if TYPE_CHECKING:
        cipher: Cipher | None
        quotas: Quotas

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def get_items(self, session: SessionInfo, limit: int | None = None) -> list[Item]:
        with self._read() as conn:
            if limit is None:
                rows = conn.execute(
                    "SELECT id, data FROM items WHERE session_id = ? ORDER BY seq, id",
                    (session.pk,),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT id, data FROM items WHERE session_id = ?"
                    " ORDER BY seq DESC, id DESC LIMIT ?",
                    (session.pk, max(limit, 0)),
                ).fetchall()
                rows.reverse()
        items = [unpack_item(self.cipher, session, item_id, data) for item_id, data in rows]
        return items if limit is None else drop_orphan_outputs(items)

    def last_turn(self, session: SessionInfo) -> Turn | None:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, created_at, id, data FROM items WHERE session_id = ? AND seq ="
                " (SELECT max(seq) FROM items WHERE session_id = ?) ORDER BY id",
                (session.pk, session.pk),
            ).fetchall()
        turns = turns_from_rows(
            (seq, at, i, unpack_item(self.cipher, session, i, data)) for seq, at, i, data in rows
        )
        return turns[0] if turns else None

    def turns_after(self, session: SessionInfo, after_seq: int, limit: int | None) -> list[Turn]:
        """Turns after ``after_seq``, oldest first; with ``limit``, the newest ``limit`` items."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, created_at, id, data FROM items WHERE session_id = ? AND seq > ?"
                " ORDER BY seq DESC, id DESC LIMIT ?",
                (session.pk, after_seq, -1 if limit is None else limit),
            ).fetchall()
        rows.reverse()
        return turns_from_rows(
            (seq, at, i, unpack_item(self.cipher, session, i, data)) for seq, at, i, data in rows
        )

    def _list_turns(self, session: SessionInfo, after_seq: int, limit: int) -> list[Turn]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, created_at, id, data FROM items WHERE session_id = ? AND seq IN"
                " (SELECT DISTINCT seq FROM items WHERE session_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?) ORDER BY seq, id",
                (session.pk, session.pk, after_seq, limit),
            ).fetchall()
        return turns_from_rows(
            (seq, at, i, unpack_item(self.cipher, session, i, data)) for seq, at, i, data in rows
        )

    def commit_turn(
        self,
        session: SessionInfo,
        items: Sequence[Item],
        *,
        replace_last: bool = False,
        created_at: str | None = None,
        usage: TurnUsage | None = None,
    ) -> int:
        rows = [pack_item(self.cipher, item) for item in items]
        with self._write() as conn:
            if replace_last:
                self._delete_last_turn(conn, session)
            seq = self._insert_turn(conn, session, items, rows, created_at or now())
            if usage is not None:
                insert_usage(conn, session.pk, seq, usage)
            return seq

    def append_to_last_turn(self, session: SessionInfo, items: Sequence[Item]) -> None:
        rows = [pack_item(self.cipher, item) for item in items]
        with self._write() as conn:
            last = conn.execute(
                "SELECT seq, created_at FROM items WHERE session_id = ?"
                " ORDER BY seq DESC, id DESC LIMIT 1",
                (session.pk,),
            ).fetchone()
            if last is None:
                self._insert_turn(conn, session, items, rows, now())
                return
            _insert_items(conn, session.pk, last[0], last[1], rows)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now(), session.pk))

    def append_to_turn(self, session: SessionInfo, seq: int, items: Sequence[Item]) -> int:
        rows = [pack_item(self.cipher, item) for item in items]
        with self._write() as conn:
            found = conn.execute(
                "SELECT created_at FROM items WHERE session_id = ? AND seq = ? LIMIT 1",
                (session.pk, seq),
            ).fetchone()
            if found is None:
                return self._insert_turn(conn, session, items, rows, now())
            _insert_items(conn, session.pk, seq, found[0], rows)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now(), session.pk))
            return seq

    def _insert_turn(
        self,
        conn: sqlite3.Connection,
        session: SessionInfo,
        items: Sequence[Item],
        rows: list[str],
        stamp: str,
    ) -> int:
        found = conn.execute(
            "UPDATE sessions SET last_seq = last_seq + 1, turn_count = turn_count + 1,"
            " updated_at = ?, title = coalesce(title, ?) WHERE id = ? RETURNING last_seq",
            (stamp, seal_title(self.cipher, title_from_items(items)), session.pk),
        ).fetchone()
        if found is None:
            raise SessionNotFound(f"session {session.user}/{session.id} was deleted")
        seq = int(found[0])
        _insert_items(conn, session.pk, seq, stamp, rows)
        return seq

    def _import_sessions(
        self, records: Sequence[SessionRecord], facts: Sequence[FactRecord]
    ) -> None:
        encoded = [[[pack_item(self.cipher, i) for i in t.items] for t in r.turns] for r in records]
        with self._write() as conn:
            for user in dict.fromkeys([*(r.user for r in records), *(f.user for f in facts)]):
                conn.execute(
                    "INSERT INTO users (name, created_at) VALUES (?, ?)"
                    " ON CONFLICT (name) DO NOTHING",
                    (user, now()),
                )
            for fact in facts:
                conn.execute(_IMPORT_FACT, (*fact_values(self.cipher, fact), fact.user))
            for record, turns in zip(records, encoded, strict=True):
                updated = record.turns[-1].created_at if record.turns else record.created_at
                try:
                    pk = conn.execute(
                        "INSERT INTO sessions (user_id, key, title, created_at, updated_at,"
                        " turn_count, last_seq, metadata) SELECT id, ?, ?, ?, ?, ?, ?, ?"
                        " FROM users WHERE name = ? RETURNING id",
                        (
                            record.id,
                            seal_title(self.cipher, record.title),
                            record.created_at,
                            updated,
                            len(record.turns),
                            len(record.turns),
                            json.dumps(record.metadata),
                            record.user,
                        ),
                    ).fetchone()[0]
                except sqlite3.IntegrityError as exc:
                    raise SessionExists(
                        f"user {record.user!r} already has a session {record.id!r}"
                    ) from exc
                for seq, (turn, rows) in enumerate(zip(record.turns, turns, strict=True), 1):
                    _insert_items(conn, pk, seq, turn.created_at, rows)
                    if turn.usage is not None:
                        insert_usage(conn, pk, seq, turn.usage)
                if record.hidden:
                    stored = conn.execute(
                        "SELECT seq, id FROM items WHERE session_id = ? ORDER BY seq, id", (pk,)
                    ).fetchall()
                    conn.executemany(
                        "INSERT INTO recall_hidden (item_id) VALUES (?)",
                        [(item_id,) for item_id in hidden_ids(record, stored)],
                    )
                if record.summary is not None:
                    summary = record.summary
                    conn.execute(
                        "INSERT INTO summaries (session_id, through_seq, text, updated_at)"
                        " VALUES (?, ?, ?, ?)",
                        (
                            pk,
                            summary.through_seq,
                            seal(self.cipher, summary.text),
                            summary.updated_at,
                        ),
                    )
            # Counted with everything in: over a cap, all of the import is rolled back.
            for user in dict.fromkeys(r.user for r in records):
                self.quotas.check("sessions", user, count_of(conn, "sessions", user))
            for user in dict.fromkeys(f.user for f in facts):
                self.quotas.check("facts", user, count_of(conn, "facts", user))

    def pop_item(self, session: SessionInfo) -> Item | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT id, seq, data FROM items WHERE session_id = ?"
                " ORDER BY seq DESC, id DESC LIMIT 1",
                (session.pk,),
            ).fetchone()
            if row is None:
                return None
            item_id, seq, data = row
            conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            if not conn.execute(
                "SELECT 1 FROM items WHERE session_id = ? AND seq = ?", (session.pk, seq)
            ).fetchone():
                self._turn_deleted(conn, session)
        return unpack_item(self.cipher, session, item_id, data)

    def pop_turn(self, session: SessionInfo) -> Turn | None:
        last = self.last_turn(session)
        if last is not None:
            with self._write() as conn:
                self._delete_last_turn(conn, session)
        return last

    def _delete_last_turn(self, conn: sqlite3.Connection, session: SessionInfo) -> None:
        deleted = conn.execute(
            "DELETE FROM items WHERE session_id = ? AND seq ="
            " (SELECT max(seq) FROM items WHERE session_id = ?)",
            (session.pk, session.pk),
        ).rowcount
        if deleted:
            self._turn_deleted(conn, session)

    def _turn_deleted(self, conn: sqlite3.Connection, session: SessionInfo) -> None:
        conn.execute("UPDATE sessions SET turn_count = turn_count - 1 WHERE id = ?", (session.pk,))
        # A summary that covered the deleted turn would keep remembering it.
        conn.execute(
            "DELETE FROM summaries WHERE session_id = ? AND through_seq >="
            " (SELECT coalesce(max(seq), 0) + 1 FROM items WHERE session_id = ?)",
            (session.pk, session.pk),
        )


def _insert_items(
    conn: sqlite3.Connection,
    session_pk: int,
    seq: int,
    stamp: str,
    rows: Sequence[str],
) -> None:
    """Insert a turn's items (``rows`` are their JSON).

    The search index is not written here: it is derived data, brought up to date in its
    own transaction before each search (see ``sqlite/index.py``), which keeps a turn
    write to one table, one index and the session row.
    """
    conn.executemany(
        "INSERT INTO items (session_id, seq, created_at, data) VALUES (?, ?, ?, ?)",
        [(session_pk, seq, stamp, row) for row in rows],
    )
