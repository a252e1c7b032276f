"""The SQLite store's users and sessions, and the one function that writes a whole session.

``write_session`` is how every whole session goes in (an import); ``read_sessions`` is
how ``memchat migrate`` reads them out, as they are stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from ...errors import SessionExists, SessionNotFound, UserNotFound
from .. import tree
from ..auth import admins
from ..checks import keep_an_admin
from ..codec import seal_title, session_from_row, unpack_item
from ..crypto import Cipher, seal
from ..quotas import Quotas
from ..records import Position, SessionInfo, Summary, User, now
from ..stored import StoredSession, StoredTurn, hidden_ids
from ..usage import TURN_USAGE_COLUMNS, turn_usage_of
from ..usage_rows import insert_usage
from .database import Database
from .memory import count_of
from .projects import SESSION_COLUMNS, SESSIONS_FROM, add_project

_USER = "SELECT name, created_at, current_session FROM users"


class SQLiteSessionsMixin:
    """Users and sessions, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def _ensure_user(self, name: str) -> User:
        try:
            return self._get_user(name)
        except UserNotFound:
            pass
        self._db.write(lambda conn: add_user(conn, name))
        return self._get_user(name)

    def _get_user(self, name: str) -> User:
        row = self._db.read(
            lambda conn: conn.execute(f"{_USER} WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            raise UserNotFound(f"no user {name!r}")
        return User(*row)

    def list_users(self) -> list[User]:
        rows = self._db.read(lambda conn: conn.execute(f"{_USER} ORDER BY name").fetchall())
        return [User(*row) for row in rows]

    def _delete_user(self, name: str) -> None:
        def work(conn: sqlite3.Connection) -> int:
            keep_an_admin(name, admins(conn))
            return conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount

        if self._db.write(work) == 0:
            raise UserNotFound(f"no user {name!r}")

    def _set_current_session(self, user: str, session_id: str) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE users SET current_session = ? WHERE name = ?", (session_id, user)
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
        sealed = seal_title(self.cipher, title)
        self._ensure_user(user)

        def work(conn: sqlite3.Connection) -> None:
            self.quotas.check("sessions", user, count_of(conn, "sessions", user) + 1)
            try:
                row = conn.execute(
                    "INSERT INTO sessions (user_id, key, title, created_at, updated_at, metadata,"
                    " project) SELECT id, ?, ?, ?, ?, ?, ? FROM users WHERE name = ?"
                    " RETURNING user_id",
                    (key, sealed, created_at, created_at, json.dumps(metadata), project, user),
                ).fetchone()
            except sqlite3.IntegrityError as exc:
                raise SessionExists(f"user {user!r} already has a session {key!r}") from exc
            if row is not None:
                add_project(conn, row[0], project, created_at)

        self._db.write(work)
        return self._session(user, key)

    def _find_session(self, user: str, session_id: str) -> SessionInfo | None:
        row = self._db.read(
            lambda conn: conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM {SESSIONS_FROM} WHERE u.name = ? AND s.key = ?",
                (user, session_id),
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
                f"SELECT {SESSION_COLUMNS} FROM {SESSIONS_FROM}"
                " WHERE u.name = ? AND (? IS NULL OR (s.updated_at, s.id) < (?, ?))"
                " AND (? IS NULL OR s.project = ?)"
                " ORDER BY s.updated_at DESC, s.id DESC LIMIT ?",
                (user, at, at, pk, project, project, -1 if limit is None else limit),
            ).fetchall()
        )
        return [session_from_row(row, self.cipher) for row in rows]

    def _rename_session(self, user: str, session_id: str, title: str) -> SessionInfo:
        session = self._session(user, session_id)
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE sessions SET title = ? WHERE id = ?",
                (seal(self.cipher, title), session.pk),
            )
        )
        return self._session(user, session_id)

    def _delete_session(self, user: str, session_id: str) -> None:
        session = self._session(user, session_id)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE id = ?", (session.pk,))
            conn.execute(
                "UPDATE users SET current_session = NULL WHERE name = ? AND current_session = ?",
                (user, session_id),
            )

        self._db.write(work)

    def clear_session(self, session: SessionInfo) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM items WHERE session_id = ?", (session.pk,))
            conn.execute("DELETE FROM summaries WHERE session_id = ?", (session.pk,))
            conn.execute("DELETE FROM branches WHERE session_id = ?", (session.pk,))
            conn.execute(
                "UPDATE sessions SET turn_count = 0, updated_at = ? WHERE id = ?",
                (now(), session.pk),
            )

        self._db.write(work)

    def _session(self, user: str, session_id: str) -> SessionInfo:
        found = self._find_session(user, session_id)
        if found is None:
            raise SessionNotFound(f"user {user!r} has no session {session_id!r}")
        return found


def add_user(conn: sqlite3.Connection, name: str) -> None:
    """Add a user unless there is one of that name."""
    conn.execute(
        "INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, now()),
    )


def write_session(conn: sqlite3.Connection, session: StoredSession) -> int | None:
    """Write a whole session (its user exists) and return its row id; None, writing
    nothing, if the user already has a session of that id."""
    row = conn.execute(
        "INSERT INTO sessions (user_id, key, title, created_at, updated_at, turn_count,"
        " last_seq, metadata, project) SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM users"
        " WHERE name = ? ON CONFLICT (user_id, key) DO NOTHING RETURNING id, user_id",
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
            "UPDATE projects SET memory = 'scoped' WHERE user_id = ? AND name = ?",
            (row[1], session.project),
        )
    for turn in session.turns:
        insert_items(conn, pk, turn.seq, turn.created_at, turn.data)
        if turn.usage is not None:
            insert_usage(conn, pk, turn.seq, turn.usage)
    if session.branches:
        tree.label_branches(conn, pk, list(session.branches), session.branch_seqs())
    if session.hidden:
        stored = conn.execute(
            "SELECT seq, id FROM items WHERE session_id = ? ORDER BY seq, id", (pk,)
        ).fetchall()
        conn.executemany(
            "INSERT INTO recall_hidden (item_id) VALUES (?)",
            [(item_id,) for item_id in hidden_ids(session, stored)],
        )
    if session.summary is not None:
        summary = session.summary
        conn.execute(
            "INSERT INTO summaries (session_id, through_seq, text, updated_at) VALUES (?, ?, ?, ?)",
            (pk, summary.through_seq, summary.text, summary.updated_at),
        )
    return pk


def insert_items(
    conn: sqlite3.Connection, session_pk: int, seq: int, stamp: str, rows: list[str]
) -> None:
    """Insert a turn's items (``rows`` are their stored text).

    The search index is not written here: it is derived data, brought up to date in its
    own transaction before each search (see ``sqlite/index.py``), which keeps a turn
    write to one table, one index and the session row.
    """
    conn.executemany(
        "INSERT INTO items (session_id, seq, created_at, data) VALUES (?, ?, ?, ?)",
        [(session_pk, seq, stamp, row) for row in rows],
    )


_STORED_SESSIONS = (
    "SELECT s.id, u.name, s.key, s.title, s.created_at, s.updated_at, s.turn_count,"
    f" s.last_seq, s.metadata, s.project, coalesce(p.memory = 'scoped', 0) FROM {SESSIONS_FROM}"
    " ORDER BY s.id"
)


def read_sessions(conn: sqlite3.Connection, cipher: Cipher | None) -> Iterator[StoredSession]:
    """Every session, one at a time, as stored (items opened with ``cipher`` as well)."""
    for row in conn.execute(_STORED_SESSIONS).fetchall():
        pk, user, key, title, created, updated, turn_count, last_seq, metadata, *project = row
        info = session_from_row(
            (pk, user, key, title, created, updated, turn_count, metadata), cipher
        )
        turns: list[StoredTurn] = []
        in_turn: dict[int, int] = {}  # items read so far of each seq
        hidden_rows = conn.execute(
            "SELECT h.item_id FROM recall_hidden h JOIN items i ON i.id = h.item_id"
            " WHERE i.session_id = ?",
            (pk,),
        )
        hidden_set = {item_id for (item_id,) in hidden_rows}
        hidden: list[tuple[int, int]] = []
        usage = turn_usage_of(
            conn.execute(
                f"SELECT {TURN_USAGE_COLUMNS} FROM turn_usage u JOIN items i ON i.id = u.item_id"
                " WHERE i.session_id = ?",
                (pk,),
            ).fetchall()
        )
        on_branch: dict[int, int] = {}
        for seq, stamp, item_id, data, branch in conn.execute(
            "SELECT seq, created_at, id, data, branch FROM items WHERE session_id = ?"
            " ORDER BY seq, id",
            (pk,),
        ):
            if branch:
                on_branch[seq] = branch
            # A turn's items share its time; any that do not keep their own.
            if not turns or (turns[-1].seq, turns[-1].created_at) != (seq, stamp):
                first = not turns or turns[-1].seq != seq
                turns.append(StoredTurn(seq, stamp, [], [], usage.get(seq) if first else None))
            if item_id in hidden_set:
                hidden.append((seq, in_turn.get(seq, 0)))
            in_turn[seq] = in_turn.get(seq, 0) + 1
            turns[-1].items.append(unpack_item(cipher, info, item_id, data))
            turns[-1].data.append(data)
        found = conn.execute(
            "SELECT through_seq, text, updated_at FROM summaries WHERE session_id = ?", (pk,)
        ).fetchone()
        yield StoredSession(
            user,
            key,
            title,
            created,
            updated,
            turn_count,
            last_seq,
            metadata,
            turns,
            None if found is None else Summary(*found),
            tuple(hidden),
            tuple(
                conn.execute(
                    "SELECT id, parent, fork_seq, created_at FROM branches WHERE session_id = ?"
                    " ORDER BY id",
                    (pk,),
                ).fetchall()
            ),
            tuple(on_branch.items()),
            project[0],
            bool(project[1]),
        )
