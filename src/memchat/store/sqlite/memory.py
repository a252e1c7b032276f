"""The SQLite store's memory tables: user facts and running session summaries."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...errors import FactNotFound, UserNotFound
from ..codec import fact_from_row, summary_from_row
from ..crypto import Cipher, seal
from ..quotas import Kind, Quotas
from ..records import Fact, FactSource, FactVersion, Position, SessionInfo, Summary, now
from .database import Database
from .projects import add_project
from .provenance import forget_history, history_of, record_fact, sources_of, turn_item

_FACT_COLUMNS = "f.id, f.key, f.value, f.source, f.updated_at, f.valid_from, f.project"

_COUNT = {
    kind: f"SELECT count(*) FROM {kind} WHERE user_id = (SELECT id FROM users WHERE name = ?)"
    for kind in ("sessions", "facts")
}


def count_of(conn: sqlite3.Connection, kind: Kind, user: str) -> int:
    """How many sessions or facts ``user`` has (for ``Quotas.check``)."""
    return int(conn.execute(_COUNT[kind], (user,)).fetchone()[0])


class SQLiteMemoryMixin:
    """Facts and summaries, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def _list_facts(
        self, user: str, limit: int | None, after: Position | None, project: str | None
    ) -> list[Fact]:
        at, fact_id = after or (None, None)
        rows = self._db.read(
            lambda conn: conn.execute(
                f"SELECT {_FACT_COLUMNS} FROM facts f JOIN users u ON u.id = f.user_id"
                " WHERE u.name = ? AND (? IS NULL OR (f.updated_at, f.id) < (?, ?))"
                " AND (? IS NULL OR f.project = ?)"
                " ORDER BY f.updated_at DESC, f.id DESC LIMIT ?",
                (user, at, at, fact_id, project, project, -1 if limit is None else limit),
            ).fetchall()
        )
        return [fact_from_row(row, self.cipher) for row in rows]

    def _set_fact(
        self,
        user: str,
        key: str,
        value: str,
        source: str,
        taught_by: tuple[SessionInfo, int] | None,
        project: str,
    ) -> Fact:
        stamp = now()

        def work(conn: sqlite3.Connection) -> Fact:
            row = conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
            if row is None:
                raise UserNotFound(f"no user {user!r}")
            user_id = row[0]
            if not conn.execute(
                "SELECT 1 FROM facts WHERE user_id = ? AND project = ? AND key = ?",
                (user_id, project, key),
            ).fetchone():
                self.quotas.check("facts", user, count_of(conn, "facts", user) + 1)
            add_project(conn, user_id, project, stamp)
            item_id = None
            if taught_by is not None:
                item_id = turn_item(conn, taught_by[0].pk, taught_by[1])
            owner = (user_id, project)
            return record_fact(conn, self.cipher, owner, key, value, source, item_id, stamp)

        return self._db.write(work)

    def _fact_sources(self, user: str) -> dict[int, list[FactSource]]:
        return self._db.read(lambda conn: sources_of(conn, user))

    def _fact_history(self, user: str, key: str | None, project: str | None) -> list[FactVersion]:
        return self._db.read(lambda conn: history_of(conn, self.cipher, user, key, project))

    def _forget_fact(self, user: str, key_or_id: str, project: str) -> Fact:
        def work(conn: sqlite3.Connection) -> Any:
            # One fact: the one with that key in the project, else the one with that id (a
            # fact's key may look like another fact's id, and forgetting must not take both).
            row = conn.execute(
                "DELETE FROM facts WHERE id = (SELECT id FROM facts"
                " WHERE user_id = (SELECT id FROM users WHERE name = ?)"
                " AND ((project = ? AND key = ?) OR CAST(id AS TEXT) = ?)"
                " ORDER BY (project = ? AND key = ?) DESC LIMIT 1)"
                " RETURNING id, key, value, source, updated_at, valid_from, project, user_id",
                (user, project, key_or_id, key_or_id, project, key_or_id),
            ).fetchone()
            if row is not None:
                forget_history(conn, row[-1], row[-2], row[1])
            return row

        row = self._db.write(work)
        if row is None:
            raise FactNotFound(f"{user!r} has no fact {key_or_id!r} (see `memchat memory list`)")
        return fact_from_row(row[:-1], self.cipher)

    def _hide_from_recall(self, user: str, item_ids: list[int]) -> None:
        # Only the user's own items: an id of somebody else's is ignored.
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO recall_hidden (item_id) SELECT i.id FROM json_each(?) ids"
                " JOIN items i ON i.id = ids.value JOIN sessions s ON s.id = i.session_id"
                " JOIN users u ON u.id = s.user_id WHERE u.name = ?"
                " ON CONFLICT (item_id) DO NOTHING",
                (json.dumps([int(i) for i in item_ids]), user),
            )
        )

    def _hidden_from_recall(self, user: str) -> set[int]:
        # CROSS JOIN keeps the (small) hidden table as the outer loop: a plain JOIN let
        # SQLite walk all of the user's items, 20 ms a turn at 100,000 turns.
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT h.item_id FROM recall_hidden h CROSS JOIN items i ON i.id = h.item_id"
                " CROSS JOIN sessions s ON s.id = i.session_id"
                " CROSS JOIN users u ON u.id = s.user_id WHERE u.name = ?",
                (user,),
            ).fetchall()
        )
        return {item_id for (item_id,) in rows}

    def get_summary(self, session: SessionInfo) -> Summary | None:
        row = self._db.read(
            lambda conn: conn.execute(
                "SELECT through_seq, text, updated_at FROM summaries WHERE session_id = ?",
                (session.pk,),
            ).fetchone()
        )
        return None if row is None else summary_from_row(row, self.cipher)

    def set_summary(self, session: SessionInfo, through_seq: int, text: str) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO summaries (session_id, through_seq, text, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
                " through_seq = excluded.through_seq, text = excluded.text,"
                " updated_at = excluded.updated_at",
                (session.pk, through_seq, seal(self.cipher, text), now()),
            )
        )
