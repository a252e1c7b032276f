"""The scale-out store: PostgreSQL through a psycopg 3 connection pool.

It keeps the SQLite store's tables and promises: a turn is committed in one transaction,
turns of one session never interleave (a per-session advisory lock held for the turn, see
``postgres/pool.py``), and an acknowledged turn is durable. Select it with
``MEMCHAT_DB=postgresql://user@host/db`` (needs ``pip install 'memchat[postgres]'``).
With a ``cipher`` it seals content at rest as the SQLite store does (see ``crypto.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from psycopg import sql

from .. import tree
from ..auth import AuthMixin
from ..base import PruneReport, SessionInfo, Store
from ..continuation import ContinuationMixin
from ..crypto import Cipher
from ..usage_rows import UsageRowsMixin
from .branches import PostgresBranchesMixin
from .imports import PostgresImportsMixin
from .index import find_last_message, reindex_context
from .locks import turn_lock_parts
from .memory import PostgresMemoryMixin
from .pool import Connection, Database
from .projects import PostgresProjectsMixin
from .schema import TABLES
from .sealing import PostgresSealingMixin
from .search import PostgresSearchMixin
from .sessions import PostgresSessionsMixin
from .turns import PostgresTurnsMixin
from .url import parse_url

T = TypeVar("T")


class PostgresStore(
    PostgresSessionsMixin,
    PostgresTurnsMixin,
    PostgresImportsMixin,
    PostgresBranchesMixin,
    PostgresMemoryMixin,
    PostgresProjectsMixin,
    AuthMixin,
    PostgresSearchMixin,
    PostgresSealingMixin,
    UsageRowsMixin,
    ContinuationMixin,
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

    def _read(self, work: Callable[[Connection], T]) -> T:
        return self._db.read(work)

    def _write(self, work: Callable[[Connection], T]) -> T:
        return self._db.write(work)

    @property
    def searchable(self) -> bool:
        # An encrypted PostgreSQL store keeps no search index (no keyed one yet).
        return self.cipher is None

    def turn_lock(self, session: SessionInfo) -> AbstractAsyncContextManager[None]:
        return self._db.hold(*turn_lock_parts(session.user, session.id))

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
                tree.line_changed(conn, pk, 0)
                tree.drop_empty(conn, pk)
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
