"""The embedded default store: one SQLite file in WAL mode, durable on every commit."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TypeVar

from ...errors import StoreError
from .. import tree
from ..auth import AuthMixin
from ..base import PruneReport, SessionInfo, Store
from ..continuation import ContinuationMixin
from ..crypto import Cipher
from ..usage_rows import UsageRowsMixin
from .blind import BlindTerms
from .branches import SQLiteBranchesMixin
from .database import Database
from .imports import SQLiteImportsMixin
from .index import reindex_context
from .locks import FileTurnLocks, turn_lock_key
from .memory import SQLiteMemoryMixin
from .projects import SQLiteProjectsMixin
from .schema import migrate
from .sealing import SQLiteSealingMixin
from .search import SQLiteSearchMixin
from .sessions import SQLiteSessionsMixin
from .stats import MessageCounts
from .turns import SQLiteTurnsMixin

T = TypeVar("T")


class SQLiteStore(
    SQLiteSessionsMixin,
    SQLiteTurnsMixin,
    SQLiteImportsMixin,
    SQLiteBranchesMixin,
    SQLiteMemoryMixin,
    SQLiteProjectsMixin,
    AuthMixin,
    SQLiteSearchMixin,
    SQLiteSealingMixin,
    UsageRowsMixin,
    ContinuationMixin,
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
        self._db = Database(self.location, self._conn)
        # The connection and its lock, for the few statements outside read and write.
        self._lock = self._db.lock
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

    def close(self) -> None:
        self._db.close()

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self._db.read(work)

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self._db.write(work)

    def prune(
        self, older_than: str, *, user: str | None = None, facts: bool = False
    ) -> PruneReport:
        scope = "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id"
        scope_args: tuple[str, ...] = ()
        if user is not None:
            scope += " WHERE u.name = ?"
            scope_args = (user,)

        def work(conn: sqlite3.Connection) -> PruneReport:
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
                tree.line_changed(conn, pk, 0)
                tree.drop_empty(conn, pk)
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

        return self._db.write(work)

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
        return self._locks.hold(turn_lock_key(session.user, session.id))


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
