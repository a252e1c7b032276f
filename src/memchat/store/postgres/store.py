"""The scale-out store: PostgreSQL through a psycopg 3 connection pool.

It keeps the SQLite store's tables and promises: a turn is committed in one transaction,
turns of one session never interleave (a per-session advisory lock held for the turn, see
``postgres/pool.py``), and an acknowledged turn is durable. Select it with
``MEMCHAT_DB=postgresql://user@host/db`` (needs ``pip install 'memchat[postgres]'``).
With a ``cipher`` it seals content at rest as the SQLite store does (see ``crypto.py``).
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import sql

from ...errors import SessionExists, UserNotFound
from ..base import Position, PruneReport, SessionInfo, Store, User, keep_an_admin, now
from ..codec import seal_title, session_from_row
from ..crypto import Cipher, seal
from .index import find_last_message, reindex_context
from .memory import PostgresMemoryMixin, admins, count_of, locked_user
from .pool import Connection, Database
from .schema import TABLES
from .sealing import PostgresSealingMixin
from .search import PostgresSearchMixin
from .turns import PostgresTurnsMixin
from .url import parse_url
from .usage import PostgresUsageMixin

_SESSION = (
    "SELECT s.id, u.name, s.key, s.title, s.created_at, s.updated_at, s.turn_count, s.metadata"
    " FROM sessions s JOIN users u ON u.id = s.user_id"
)
_USER = "SELECT name, created_at, current_session FROM users"


class PostgresStore(
    PostgresTurnsMixin,
    PostgresMemoryMixin,
    PostgresSearchMixin,
    PostgresSealingMixin,
    PostgresUsageMixin,
    Store,
):
    """Conversations in a PostgreSQL database (optionally in one schema of it).

    ``url`` is a libpq URL; ``?schema=NAME`` and ``?pool_size=N`` are read by memchat
    (``pool_size`` defaults to ``MEMCHAT_PG_POOL_SIZE``, else 10), the rest by libpq.
    With a ``cipher``, items, titles, fact values and summaries are sealed.
    """

    def __init__(
        self, url: str, *, pool_size: int | None = None, cipher: Cipher | None = None
    ) -> None:
        target = parse_url(url, pool_size)
        schema = f"?schema={target.schema}" if target.schema else ""
        self.location = f"postgresql://{target.shown}{schema}"
        self.cipher = cipher
        self._db = Database(target)

    def close(self) -> None:
        self._db.close()

    @property
    def searchable(self) -> bool:
        # An encrypted PostgreSQL store keeps no search index (no keyed one yet).
        return self.cipher is None

    def turn_lock(self, session: SessionInfo) -> AbstractAsyncContextManager[None]:
        return self._db.hold("turn", session.user, session.id)

    # -- users -----------------------------------------------------------------------------

    def _ensure_user(self, name: str) -> User:
        def work(conn: Connection) -> User:
            conn.execute(
                "INSERT INTO users (name, created_at) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, now()),
            )
            return _one_user(conn, name)

        try:
            return self.get_user(name)
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

    # -- sessions --------------------------------------------------------------------------

    def _create_session(
        self, user: str, key: str, *, title: str | None, metadata: dict[str, Any], created_at: str
    ) -> SessionInfo:
        stamp = created_at
        sealed = seal_title(self.cipher, title)
        self.ensure_user(user)

        def work(conn: Connection) -> None:
            user_id = locked_user(conn, user)
            if user_id is None:
                raise UserNotFound(f"no user {user!r}")  # deleted meanwhile
            self.quotas.check("sessions", user, count_of(conn, "sessions", user_id) + 1)
            try:
                conn.execute(
                    "INSERT INTO sessions (user_id, key, title, created_at, updated_at, metadata)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (user_id, key, sealed, stamp, stamp, json.dumps(metadata)),
                )
            except psycopg.errors.UniqueViolation as exc:
                raise SessionExists(f"user {user!r} already has a session {key!r}") from exc

        self._db.write(work)
        return self.get_session(user, key)

    def _find_session(self, user: str, session_id: str) -> SessionInfo | None:
        row = self._db.read(
            lambda conn: conn.execute(
                f"{_SESSION} WHERE u.name = %s AND s.key = %s", (user, session_id)
            ).fetchone()
        )
        return None if row is None else session_from_row(row, self.cipher)

    def _list_sessions(
        self, user: str, limit: int | None, after: Position | None
    ) -> list[SessionInfo]:
        self.get_user(user)
        at, pk = after or (None, None)
        rows = self._db.read(
            lambda conn: conn.execute(
                f"{_SESSION} WHERE u.name = %s"
                " AND (%s::text IS NULL OR (s.updated_at, s.id) < (%s, %s))"
                " ORDER BY s.updated_at DESC, s.id DESC LIMIT %s",
                (user, at, at, pk, limit),
            ).fetchall()
        )
        return [session_from_row(row, self.cipher) for row in rows]

    def _rename_session(self, user: str, session_id: str, title: str) -> SessionInfo:
        session = self.get_session(user, session_id)
        self._db.write(
            lambda conn: conn.execute(
                "UPDATE sessions SET title = %s WHERE id = %s",
                (seal(self.cipher, title), session.pk),
            )
        )
        return self.get_session(user, session_id)

    def _delete_session(self, user: str, session_id: str) -> None:
        session = self.get_session(user, session_id)

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
            conn.execute(
                "UPDATE sessions SET turn_count = 0, updated_at = %s, last_message = NULL"
                " WHERE id = %s",
                (now(), session.pk),
            )

        self._db.write(work)

    # -- retention -------------------------------------------------------------------------

    def prune(
        self, older_than: str, *, user: str | None = None, facts: bool = False
    ) -> PruneReport:
        def work(conn: Connection) -> PruneReport:
            # Per session: the turns wholly before the cut, counted, then deleted.
            touched = conn.execute(
                "SELECT i.session_id, count(DISTINCT i.seq) FROM items i"
                " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
                " WHERE i.created_at < %s AND (%s::text IS NULL OR u.name = %s)"
                " GROUP BY i.session_id",
                (older_than, user, user),
            ).fetchall()
            for pk, _ in touched:
                conn.execute(
                    "DELETE FROM items WHERE session_id = %s AND created_at < %s",
                    (pk, older_than),
                )
                conn.execute("DELETE FROM summaries WHERE session_id = %s", (pk,))
                # The first messages left may still carry pruned ones' text as context.
                reindex_context(conn, pk)
                find_last_message(conn, pk)
                conn.execute(
                    "UPDATE sessions SET turn_count = (SELECT count(DISTINCT seq) FROM items"
                    " WHERE session_id = %s) WHERE id = %s",
                    (pk, pk),
                )
            sessions = conn.execute(
                "DELETE FROM sessions s USING users u WHERE u.id = s.user_id"
                " AND (%s::text IS NULL OR u.name = %s) AND s.turn_count = 0"
                " AND s.updated_at < %s",
                (user, user, older_than),
            ).rowcount
            dropped = 0
            if facts:
                dropped = conn.execute(
                    "DELETE FROM facts f USING users u WHERE u.id = f.user_id"
                    " AND f.updated_at < %s AND (%s::text IS NULL OR u.name = %s)",
                    (older_than, user, user),
                ).rowcount
            return PruneReport(sum(count for _, count in touched), sessions, dropped)

        return self._db.write(work)

    def vacuum(self) -> None:
        # VACUUM FULL writes each table anew, leaving deleted rows behind in no data file;
        # ANALYZE recomputes the planner's statistics, whose samples of common values and
        # histograms would otherwise keep deleted (or since sealed) text. It cannot run in
        # a transaction block, and reads run in autocommit mode.
        statement = sql.SQL("VACUUM (FULL, ANALYZE) {}").format(
            sql.SQL(", ").join(sql.Identifier(table) for table in TABLES)
        )
        self._db.read(lambda conn: conn.execute(statement))
        self._db.write(_forget_statistics_of_empty_tables)


# The columns that hold conversation text, and their types.
_CONTENT = {
    "items": (("data", "text"),),
    "messages": (("text", "text"), ("context1", "text"), ("context2", "text"), ("doc", "tsvector")),
    "sessions": (("title", "text"),),
    "facts": (("value", "text"),),
    "summaries": (("text", "text"),),
}


def _forget_statistics_of_empty_tables(conn: Connection) -> None:
    """Drop the statistics of the text columns of tables left empty.

    ANALYZE keeps a table's old statistics when it finds no rows, samples of the deleted
    text among them (an encrypted store's emptied search index, a last user's facts).
    Changing a column to its own type drops its statistics, without rewriting anything;
    unlike deleting from pg_statistic, it needs no superuser.
    """
    for table, columns in _CONTENT.items():
        name = sql.Identifier(table)
        if conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(name)).fetchone():
            continue
        changes = sql.SQL(", ").join(
            sql.SQL("ALTER COLUMN {} TYPE {}").format(sql.Identifier(column), sql.SQL(kind))
            for column, kind in columns
        )
        conn.execute(sql.SQL("ALTER TABLE {} {}").format(name, changes))


def _one_user(conn: Connection, name: str) -> User:
    row = conn.execute(f"{_USER} WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise UserNotFound(f"no user {name!r}")
    return User(*row)
