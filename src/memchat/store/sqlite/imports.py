"""The SQLite store's imports: whole sessions, facts, and turns continuing stored
sessions (``continuation.py``), in one transaction.

A continued session's turn lock (``locks.py``) is taken before the transaction begins
and held until it ends: a turn holds it while it waits for the model, and then needs the
write lock to commit, which the import would hold.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...errors import SessionExists
from ..codec import fact_values
from ..continuation import Continuation, add_continuations
from ..crypto import Cipher
from ..quotas import Quotas
from ..records import FactRecord, SessionRecord
from ..stored import encode_record
from .database import Database
from .locks import FileTurnLocks, turn_lock_key
from .memory import count_of
from .projects import IMPORT_PROJECT
from .sessions import add_user, write_session
from .turns import append_turn

# A fact imported replaces the stored one of its key only if it is newer.
_IMPORT_FACT = (
    "INSERT INTO facts (user_id, project, key, value, source, created_at, updated_at)"
    " SELECT id, ?, ?, ?, ?, ?, ? FROM users WHERE name = ?"
    " ON CONFLICT (user_id, project, key) DO UPDATE SET value = excluded.value,"
    " source = excluded.source, updated_at = excluded.updated_at"
    " WHERE excluded.updated_at > facts.updated_at"
)


class SQLiteImportsMixin:
    """Imports, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    _locks: FileTurnLocks
    cipher: Cipher | None
    quotas: Quotas

    def _import_sessions(
        self,
        records: Sequence[SessionRecord],
        facts: Sequence[FactRecord],
        continuations: Sequence[Continuation],
    ) -> None:
        sessions = [encode_record(record, self.cipher) for record in records]

        def work(conn: sqlite3.Connection) -> None:
            for user in dict.fromkeys([*(r.user for r in records), *(f.user for f in facts)]):
                add_user(conn, user)
            for fact in facts:
                made = (fact.project, fact.updated_at, fact.user, fact.project)
                conn.execute(IMPORT_PROJECT, made)
                conn.execute(_IMPORT_FACT, (*fact_values(self.cipher, fact), fact.user))
            for session in sessions:
                if write_session(conn, session) is None:
                    raise SessionExists(
                        f"user {session.user!r} already has a session {session.id!r}"
                    )
            add_continuations(conn, self.cipher, continuations, append_turn)
            # Counted with everything in: over a cap, all of the import is rolled back.
            for user in dict.fromkeys(r.user for r in records):
                self.quotas.check("sessions", user, count_of(conn, "sessions", user))
            for user in dict.fromkeys(f.user for f in facts):
                self.quotas.check("facts", user, count_of(conn, "facts", user))

        locks = (turn_lock_key(c.session.user, c.session.id) for c in continuations)
        with self._locks.hold_all(locks):
            self._db.write(work)
