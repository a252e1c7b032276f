"""The embedded default store: one SQLite file in WAL mode, durable on every commit."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

from ...errors import CorruptData, SessionExists, StoreError, UserNotFound
from ..base import (
    Position,
    PruneReport,
    SessionInfo,
    Store,
    User,
    keep_an_admin,
    now,
)
from ..codec import (
    seal_title,
    session_from_row,
)
from ..crypto import Cipher, seal
from .auth import SQLiteAuthMixin, admins
from .blind import BlindTerms
from .index import reindex_context
from .locks import FileTurnLocks
from .memory import SQLiteMemoryMixin, count_of
from .schema import migrate
from .sealing import SQLiteSealingMixin
from .search import SQLiteSearchMixin
from .stats import MessageCounts
from .turns import SQLiteTurnsMixin
from .usage import SQLiteUsageMixin

_SESSION_COLUMNS = (
    "s.id, u.name, s.key, s.title, s.created_at, s.updated_at, s.turn_count, s.metadata"
)


class SQLiteStore(
    SQLiteTurnsMixin,
    SQLiteMemoryMixin,
    SQLiteAuthMixin,
    SQLiteSearchMixin,
    SQLiteSealingMixin,
    SQLiteUsageMixin,
    Store,
):
    """Conversations in one SQLite database file (``":memory:"`` for a throwaway one).

    One connection serves the store, guarded by a lock so threads may share it. Every
    write is one ``BEGIN IMMEDIATE`` transaction, committed with ``synchronous=FULL`` so an
    acknowledged turn survives a power cut.
    """

    def __init__(
        self, path: str | Path, *, cipher: Cipher | None = None, blind: BlindTerms | None = None
    ) -> None:
        """Open (and migrate) the database at ``path``.

        With a ``cipher`` content is sealed at rest; ``blind`` then keeps a keyed search
        index (see blind.py), without it an encrypted store keeps none.
        """
        self.location = str(path)
        self.cipher = cipher
        self.blind = blind if cipher is not None else None
        self._lock = threading.RLock()
        self._opened_texts: dict[str, str] = {}
        self._counts = MessageCounts()
        if self.location == ":memory:":
            lock_dir = Path(tempfile.mkdtemp(prefix="memchat-locks-"))
        else:
            db_path = Path(path).expanduser()
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StoreError(f"cannot create {db_path.parent}: {exc.strerror}") from exc
            _create_private(db_path)
            lock_dir = db_path.parent / f".{db_path.name}.locks"
        self._locks = FileTurnLocks(lock_dir)
        try:
            self._conn = sqlite3.connect(
                self.location, isolation_level=None, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.location}: {exc}") from exc
        try:
            self._configure()
            migrate(self._conn)
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open database {self.location}: {exc}") from exc

    def _configure(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted content is overwritten with zeros, so "forget" means forgotten on disk too.
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        if self.location != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch {self.location} to WAL mode (got {mode})")
        if self.blind is not None:
            # A blind index tokenizes plaintext in scratch tables: keep them off the disk.
            conn.execute("PRAGMA temp_store = MEMORY")
        # FULL: a commit is on disk when it returns; NORMAL in WAL mode may lose the last
        # turns on power loss, and memchat promises that an acknowledged turn is kept.
        conn.execute("PRAGMA synchronous = FULL")

    # -- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except (sqlite3.Error, UnicodeError) as exc:
                raise _store_error("read", self.location, exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write {self.location}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                # rollback() is a no-op if the error already ended the transaction, so the
                # original exception propagates.
                conn.rollback()
                if isinstance(exc, (sqlite3.Error, UnicodeError)):
                    raise _store_error("write", self.location, exc) from exc
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def prune(
        self, older_than: str, *, user: str | None = None, facts: bool = False
    ) -> PruneReport:
        scope = "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id"
        scope_args: tuple[str, ...] = ()
        if user is not None:
            scope += " WHERE u.name = ?"
            scope_args = (user,)
        with self._write() as conn:
            touched = [
                row[0]
                for row in conn.execute(
                    f"SELECT DISTINCT session_id FROM items WHERE created_at < ?"
                    f" AND session_id IN ({scope})",
                    (older_than, *scope_args),
                )
            ]
            turns = 0
            for pk in touched:
                turns += conn.execute(
                    "SELECT count(DISTINCT seq) FROM items WHERE session_id = ? AND created_at < ?",
                    (pk, older_than),
                ).fetchone()[0]
                conn.execute(
                    "DELETE FROM items WHERE session_id = ? AND created_at < ?", (pk, older_than)
                )
                conn.execute("DELETE FROM summaries WHERE session_id = ?", (pk,))
                # The first messages left may still carry pruned ones' text as context.
                reindex_context(conn, pk)
                conn.execute(
                    "UPDATE sessions SET turn_count ="
                    " (SELECT count(DISTINCT seq) FROM items WHERE session_id = ?) WHERE id = ?",
                    (pk, pk),
                )
            sessions = conn.execute(
                f"DELETE FROM sessions WHERE id IN ({scope}) AND turn_count = 0 AND updated_at < ?",
                (*scope_args, older_than),
            ).rowcount
            dropped_facts = 0
            if facts:
                dropped_facts = conn.execute(
                    "DELETE FROM facts WHERE updated_at < ? AND user_id IN"
                    " (SELECT id FROM users WHERE ? IS NULL OR name = ?)",
                    (older_than, user, user),
                ).rowcount
        return PruneReport(turns, sessions, dropped_facts)

    def vacuum(self) -> None:
        with self._lock:
            try:
                # Merging the full-text index drops the terms of deleted messages, which
                # it otherwise keeps (marked deleted) until its segments happen to merge.
                self._conn.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
                # Checkpoint first so the WAL holds no copy of deleted pages, then rebuild.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.execute("VACUUM")
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise StoreError(f"cannot vacuum {self.location}: {exc}") from exc
        if busy:
            # Another process kept reading past busy_timeout: its snapshot pins the log,
            # which may still hold copies of what was deleted.
            raise StoreError(
                f"vacuumed {self.location}, but another process reading it kept its"
                " write-ahead log from being emptied: run the vacuum again"
            )

    @property
    def searchable(self) -> bool:
        return self.cipher is None or self.blind is not None

    def turn_lock(self, session: SessionInfo) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(f"{session.user}/{session.id}")

    # -- users -----------------------------------------------------------------------------

    def _ensure_user(self, name: str) -> User:
        try:
            return self.get_user(name)
        except UserNotFound:
            pass
        with self._write() as conn:
            conn.execute(
                "INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, now()),
            )
        return self.get_user(name)

    def _get_user(self, name: str) -> User:
        with self._read() as conn:
            row = conn.execute(
                "SELECT name, created_at, current_session FROM users WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise UserNotFound(f"no user {name!r}")
        return User(*row)

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT name, created_at, current_session FROM users ORDER BY name"
            ).fetchall()
        return [User(*row) for row in rows]

    def _delete_user(self, name: str) -> None:
        with self._write() as conn:
            keep_an_admin(name, admins(conn))
            if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise UserNotFound(f"no user {name!r}")

    def _set_current_session(self, user: str, session_id: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE users SET current_session = ? WHERE name = ?", (session_id, user))

    # -- sessions --------------------------------------------------------------------------

    def _create_session(
        self, user: str, key: str, *, title: str | None, metadata: dict[str, Any], created_at: str
    ) -> SessionInfo:
        stamp = created_at
        sealed = seal_title(self.cipher, title)
        self.ensure_user(user)
        with self._write() as conn:
            self.quotas.check("sessions", user, count_of(conn, "sessions", user) + 1)
            try:
                conn.execute(
                    "INSERT INTO sessions (user_id, key, title, created_at, updated_at, metadata)"
                    " SELECT id, ?, ?, ?, ?, ? FROM users WHERE name = ?",
                    (key, sealed, stamp, stamp, json.dumps(metadata), user),
                )
            except sqlite3.IntegrityError as exc:
                raise SessionExists(f"user {user!r} already has a session {key!r}") from exc
        return self.get_session(user, key)

    def _find_session(self, user: str, session_id: str) -> SessionInfo | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE u.name = ? AND s.key = ?",
                (user, session_id),
            ).fetchone()
        return None if row is None else session_from_row(row, self.cipher)

    def _list_sessions(
        self, user: str, limit: int | None, after: Position | None
    ) -> list[SessionInfo]:
        self.get_user(user)
        at, pk = after or (None, None)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE u.name = ? AND (? IS NULL OR (s.updated_at, s.id) < (?, ?))"
                " ORDER BY s.updated_at DESC, s.id DESC LIMIT ?",
                (user, at, at, pk, -1 if limit is None else limit),
            ).fetchall()
        return [session_from_row(row, self.cipher) for row in rows]

    def _rename_session(self, user: str, session_id: str, title: str) -> SessionInfo:
        session = self.get_session(user, session_id)
        with self._write() as conn:
            conn.execute(
                "UPDATE sessions SET title = ? WHERE id = ?",
                (seal(self.cipher, title), session.pk),
            )
        return self.get_session(user, session_id)

    def _delete_session(self, user: str, session_id: str) -> None:
        session = self.get_session(user, session_id)
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE id = ?", (session.pk,))
            conn.execute(
                "UPDATE users SET current_session = NULL WHERE name = ? AND current_session = ?",
                (user, session_id),
            )

    def clear_session(self, session: SessionInfo) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM items WHERE session_id = ?", (session.pk,))
            conn.execute("DELETE FROM summaries WHERE session_id = ?", (session.pk,))
            conn.execute(
                "UPDATE sessions SET turn_count = 0, updated_at = ? WHERE id = ?",
                (now(), session.pk),
            )


# Shared with the PostgreSQL store, so that both keep an item as the same text.
def _create_private(db_path: Path) -> None:
    """Create an empty database file readable by its owner alone, unless it exists.

    SQLite would create it following the umask (often 0644), and creates the WAL and
    shared-memory files with the database's own mode: all three are private this way.
    An existing file keeps the mode its owner gave it.
    """
    try:
        os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create {db_path}: {exc.strerror}") from exc


def _store_error(action: str, location: str, exc: Exception) -> StoreError:
    """A short, clear StoreError for a database error (never the stored text itself)."""
    if isinstance(exc, UnicodeError):
        return StoreError(f"cannot {action} {location}: text that is not valid UTF-8")
    if "Could not decode" in str(exc):
        # SQLite's message quotes the whole undecodable value: conversation content.
        return CorruptData(f"cannot {action} {location}: a stored value is not valid UTF-8")
    return StoreError(f"cannot {action} {location}: {exc}")
