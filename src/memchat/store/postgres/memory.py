"""The PostgreSQL store's memory tables: user facts and running session summaries.

With a cipher, fact values and summaries are sealed (see ``crypto.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import FactNotFound, UserNotFound
from ..codec import fact_from_row, summary_from_row
from ..crypto import Cipher, seal
from ..quotas import Kind, Quotas
from ..records import Fact, FactSource, FactVersion, Position, SessionInfo, Summary, now
from .projects import add_project
from .provenance import forget_history, history_of, record_fact, sources_of, turn_item

if TYPE_CHECKING:
    from .pool import Connection, Database

_FACT = "id, key, value, source, updated_at, valid_from, project"

_COUNT = {kind: f"SELECT count(*) FROM {kind} WHERE user_id = %s" for kind in ("sessions", "facts")}


def locked_user(conn: Connection, user: str) -> int | None:
    """The user's row id, the row locked until the transaction ends (None: no such user).

    Whatever adds to a user's sessions or facts takes this lock first, so that two adds at
    once count one after the other against the user's quota.
    """
    row = conn.execute("SELECT id FROM users WHERE name = %s FOR UPDATE", (user,)).fetchone()
    return None if row is None else int(row[0])


def count_of(conn: Connection, kind: Kind, user_id: int) -> int:
    """How many sessions or facts the user of row ``user_id`` has (for ``Quotas.check``)."""
    row = conn.execute(_COUNT[kind], (user_id,)).fetchone()
    return int(row[0]) if row else 0


class PostgresMemoryMixin:
    """Facts and summaries, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def _list_facts(
        self, user: str, limit: int | None, after: Position | None, project: str | None
    ) -> list[Fact]:
        at, fact_id = after or (None, None)
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT f.id, f.key, f.value, f.source, f.updated_at, f.valid_from, f.project"
                " FROM facts f JOIN users u ON u.id = f.user_id WHERE u.name = %s"
                " AND (%s::text IS NULL OR (f.updated_at, f.id) < (%s, %s))"
                " AND (%s::text IS NULL OR f.project = %s)"
                " ORDER BY f.updated_at DESC, f.id DESC LIMIT %s",
                (user, at, at, fact_id, project, project, limit),
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

        def work(conn: Connection) -> Fact | None:
            user_id = locked_user(conn, user)
            if user_id is None:
                return None
            if not conn.execute(
                "SELECT 1 FROM facts WHERE user_id = %s AND project = %s AND key = %s",
                (user_id, project, key),
            ).fetchone():
                self.quotas.check("facts", user, count_of(conn, "facts", user_id) + 1)
            add_project(conn, user_id, project, stamp)
            item_id = None
            if taught_by is not None:
                item_id = turn_item(conn, taught_by[0].pk, taught_by[1])
            owner = (user_id, project)
            return record_fact(conn, self.cipher, owner, key, value, source, item_id, stamp)

        fact = self._db.write(work)
        if fact is None:
            raise UserNotFound(f"no user {user!r}")
        return fact

    def _fact_sources(self, user: str) -> dict[int, list[FactSource]]:
        return self._db.read(lambda conn: sources_of(conn, user))

    def _fact_history(self, user: str, key: str | None, project: str | None) -> list[FactVersion]:
        return self._db.read(lambda conn: history_of(conn, self.cipher, user, key, project))

    def _forget_fact(self, user: str, key_or_id: str, project: str) -> Fact:
        def work(conn: Connection) -> tuple[Any, ...] | None:
            row = conn.execute(
                # One fact: the one with that key in the project, else the one with that id.
                "DELETE FROM facts WHERE id = (SELECT id FROM facts"
                " WHERE user_id = (SELECT id FROM users WHERE name = %s)"
                " AND ((project = %s AND key = %s) OR id::text = %s)"
                " ORDER BY (project = %s AND key = %s) DESC LIMIT 1)"
                f" RETURNING {_FACT}, user_id",
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
        ids = [int(i) for i in item_ids]
        # Only the user's own items: an id of somebody else's is ignored.
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO recall_hidden (item_id) SELECT i.id FROM items i"
                " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
                " WHERE i.id = ANY(%s) AND u.name = %s ON CONFLICT (item_id) DO NOTHING",
                (ids, user),
            )
        )

    def _hidden_from_recall(self, user: str) -> set[int]:
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT h.item_id FROM recall_hidden h JOIN items i ON i.id = h.item_id"
                " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
                " WHERE u.name = %s",
                (user,),
            ).fetchall()
        )
        return {int(item_id) for (item_id,) in rows}

    def get_summary(self, session: SessionInfo) -> Summary | None:
        row = self._db.read(
            lambda conn: conn.execute(
                "SELECT through_seq, text, updated_at FROM summaries WHERE session_id = %s",
                (session.pk,),
            ).fetchone()
        )
        return None if row is None else summary_from_row(row, self.cipher)

    def set_summary(self, session: SessionInfo, through_seq: int, text: str) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO summaries (session_id, through_seq, text, updated_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET"
                " through_seq = excluded.through_seq, text = excluded.text,"
                " updated_at = excluded.updated_at",
                (session.pk, through_seq, seal(self.cipher, text), now()),
            )
        )
