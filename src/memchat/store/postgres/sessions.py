"""The PostgreSQL store's users and sessions, and the one function that writes a whole session.

``write_session`` is how every whole session goes in: an import, and ``memchat migrate``'s
copy of a SQLite store (``postgres/copy.py``), which hands it the rows as they are stored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg

from ...errors import SessionExists, SessionNotFound, UserNotFound
from .. import tree
from ..auth import admins
from ..checks import keep_an_admin
from ..codec import seal_title, session_from_row
from ..crypto import Cipher, seal
from ..quotas import Quotas
from ..records import Position, SessionInfo, User, now
from ..stored import StoredSession, hidden_ids
from ..usage_rows import insert_usage
from .index import SET_LAST_MESSAGE, find_last_message, insert_items_sql, message_params
from .memory import count_of, locked_user
from .projects import SESSION_COLUMNS, SESSIONS_FROM, add_project

if TYPE_CHECKING:
    from .pool import Connection, Database

_SESSION = f"SELECT {SESSION_COLUMNS} FROM {SESSIONS_FROM}"
_USER = "SELECT name, created_at, current_session FROM users"


class PostgresSessionsMixin:
    """Users and sessions, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def _ensure_user(self, name: str) -> User:
        def work(conn: Connection) -> User:
            conn.execute(
                "INSERT INTO users (name, created_at) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, now()),
            )
            return _one_user(conn, name)

        try:
            return self._get_user(name)
        except UserNotFound:
            return self._db.write(work)

    def _get_user(self, name: str) -> User:
        return self._db.read(lambda conn: _one_user(conn, name))

    def list_users(self) -> list[User]:
        rows = self._db.read(lambda conn: conn.execute(f"{_USER} ORDER BY name").fetchall())
        return [User(*row) for row in rows]

    def _delete_user(self, name: str) -> None:
        def work(conn: Connection) -> int:
            keep_an_admin(name, admins(conn))
            return conn.execute("DELETE FROM users WHERE name = %s", (name,)).rowcount

        if self._db.write(work) == 0:
            raise UserNotFound(f"no user {name!r}")

    def _set_current_session(self, user: str, session_id: str) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE users SET current_session = %s WHERE name = %s", (session_id, user)
            )
        )

    def _create_session(
        self,
        user: str,
        key: str,
        *,
        title: str | None,
        metadata: dict[str, Any],
        created_at: str,
        project: str,
    ) -> SessionInfo:
        stamp = created_at
        sealed = seal_title(self.cipher, title)
        self._ensure_user(user)

        def work(conn: Connection) -> None:
            user_id = locked_user(conn, user)
            if user_id is None:
                raise UserNotFound(f"no user {user!r}")  # deleted meanwhile
            self.quotas.check("sessions", user, count_of(conn, "sessions", user_id) + 1)
            try:
                conn.execute(
                    "INSERT INTO sessions (user_id, key, title, created_at, updated_at, metadata,"
                    " project) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (user_id, key, sealed, stamp, stamp, json.dumps(metadata), project),
                )
            except psycopg.errors.UniqueViolation as exc:
                raise SessionExists(f"user {user!r} already has a session {key!r}") from exc
            add_project(conn, user_id, project, stamp)

        self._db.write(work)
        return self._session(user, key)

    def _find_session(self, user: str, session_id: str) -> SessionInfo | None:
        row = self._db.read(
            lambda conn: conn.execute(
                f"{_SESSION} WHERE u.name = %s AND s.key = %s", (user, session_id)
            ).fetchone()
        )
        return None if row is None else session_from_row(row, self.cipher)

    def _list_sessions(
        self, user: str, limit: int | None, after: Position | None, project: str | None
    ) -> list[SessionInfo]:
        self._get_user(user)
        at, pk = after or (None, None)
        rows = self._db.read(
            lambda conn: conn.execute(
                f"{_SESSION} WHERE u.name = %s"
                " AND (%s::text IS NULL OR (s.updated_at, s.id) < (%s, %s))"
                " AND (%s::text IS NULL OR s.project = %s)"
                " ORDER BY s.updated_at DESC, s.id DESC LIMIT %s",
                (user, at, at, pk, project, project, limit),
            ).fetchall()
        )
        return [session_from_row(row, self.cipher) for row in rows]

    def _rename_session(self, user: str, session_id: str, title: str) -> SessionInfo:
        session = self._session(user, session_id)
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE sessions SET title = %s WHERE id = %s",
                (seal(self.cipher, title), session.pk),
            )
        )
        return self._session(user, session_id)

    def _delete_session(self, user: str, session_id: str) -> None:
        session = self._session(user, session_id)

        def work(conn: Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE id = %s", (session.pk,))
            conn.execute(
                "UPDATE users SET current_session = NULL WHERE name = %s AND current_session = %s",
                (user, session_id),
            )

        self._db.write(work)

    def clear_session(self, session: SessionInfo) -> None:
        def work(conn: Connection) -> None:
            conn.execute("DELETE FROM items WHERE session_id = %s", (session.pk,))
            conn.execute("DELETE FROM summaries WHERE session_id = %s", (session.pk,))
            conn.execute("DELETE FROM branches WHERE session_id = %s", (session.pk,))
            conn.execute(
                "UPDATE sessions SET turn_count = 0, updated_at = %s, last_message = NULL"
                " WHERE id = %s",
                (now(), session.pk),
            )

        self._db.write(work)

    def _session(self, user: str, session_id: str) -> SessionInfo:
        found = self._find_session(user, session_id)
        if found is None:
            raise SessionNotFound(f"user {user!r} has no session {session_id!r}")
        return found


def _one_user(conn: Connection, name: str) -> User:
    row = conn.execute(f"{_USER} WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise UserNotFound(f"no user {name!r}")
    return User(*row)


def add_user(conn: Connection, name: str) -> None:
    """Add a user unless there is one of that name."""
    conn.execute(
        "INSERT INTO users (name, created_at) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
        (name, now()),
    )


# A turn's items into a turn that already has its (seq, created_at): the statement that
# also writes their index rows (``insert_items_sql``); ``updated`` is the session's new
# updated_at.
ADD_TO_TURN = insert_items_sql(
    f"UPDATE sessions SET updated_at = %(updated)s, {SET_LAST_MESSAGE} WHERE id = %(pk)s"
    " RETURNING id AS pk, %(seq)s::integer AS seq, %(stamp)s::text AS stamp"
)


def write_session(conn: Connection, session: StoredSession, *, index: bool) -> int | None:
    """Write a whole session (its user exists) and return its row id; None, writing
    nothing, if the user already has a session of that id.

    ``index`` is False for an encrypted store, which writes no search index rows.
    """
    row = conn.execute(
        "INSERT INTO sessions (user_id, key, title, created_at, updated_at, turn_count,"
        " last_seq, metadata, project) SELECT id, %s, %s, %s, %s, %s, %s, %s, %s FROM users"
        " WHERE name = %s ON CONFLICT (user_id, key) DO NOTHING RETURNING id, user_id",
        (
            session.id,
            session.title,
            session.created_at,
            session.updated_at,
            session.turn_count,
            session.last_seq,
            session.metadata,
            session.project,
            session.user,
        ),
    ).fetchone()
    if row is None:
        return None
    pk = int(row[0])
    add_project(conn, row[1], session.project, session.created_at)
    if session.scoped:
        conn.execute(
            "UPDATE projects SET memory = 'scoped' WHERE user_id = %s AND name = %s",
            (row[1], session.project),
        )
    with conn.cursor() as cur:
        cur.executemany(
            ADD_TO_TURN,
            [
                {
                    "pk": pk,
                    "seq": turn.seq,
                    "stamp": turn.created_at,
                    "updated": session.updated_at,
                    **message_params(turn.items, turn.data, index=index),
                }
                for turn in session.turns
            ],
        )
    if session.branches:
        tree.label_branches(conn, pk, list(session.branches), session.branch_seqs())
        find_last_message(conn, pk)
    for turn in session.turns:
        if turn.usage is not None:
            insert_usage(conn, pk, turn.seq, turn.usage)
    if session.hidden:
        stored = conn.execute(
            "SELECT seq, id FROM items WHERE session_id = %s ORDER BY seq, id", (pk,)
        ).fetchall()
        conn.execute(
            "INSERT INTO recall_hidden (item_id) SELECT unnest(%s::bigint[])",
            (hidden_ids(session, stored),),
        )
    if session.summary is not None:
        summary = session.summary
        conn.execute(
            "INSERT INTO summaries (session_id, through_seq, text, updated_at)"
            " VALUES (%s, %s, %s, %s)",
            (pk, summary.through_seq, summary.text, summary.updated_at),
        )
    return pk
