"""The PostgreSQL store's imports: whole sessions, facts, and turns continuing stored
sessions (``continuation.py``), in one transaction.

A continued session's turn lock is taken first in the transaction, as a transaction-level
advisory lock (``locks.py``), before any row lock: a turn that holds it may need those
rows to commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import SessionExists
from ..codec import fact_values
from ..continuation import Continuation, add_continuations
from ..crypto import Cipher
from ..quotas import Kind, Quotas
from ..records import FactRecord, SessionRecord
from ..stored import encode_record
from .locks import lock_turns
from .memory import count_of, locked_user
from .projects import IMPORT_PROJECT
from .sessions import add_user, write_session
from .turns import append_turn

if TYPE_CHECKING:
    from .pool import Connection, Database

# A fact imported replaces the stored one of its key only if it is newer.
_IMPORT_FACT = (
    "INSERT INTO facts (user_id, project, key, value, source, created_at, updated_at)"
    " SELECT id, %s, %s, %s, %s, %s, %s FROM users WHERE name = %s"
    " ON CONFLICT (user_id, project, key) DO UPDATE SET value = excluded.value,"
    " source = excluded.source, updated_at = excluded.updated_at"
    " WHERE excluded.updated_at > facts.updated_at"
)


class PostgresImportsMixin:
    """Imports, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    def _import_sessions(
        self,
        records: Sequence[SessionRecord],
        facts: Sequence[FactRecord],
        continuations: Sequence[Continuation],
    ) -> None:
        sessions = [encode_record(record, self.cipher) for record in records]
        index = self.cipher is None

        def work(conn: Connection) -> None:
            lock_turns(
                conn, self._db.schema, [(c.session.user, c.session.id) for c in continuations]
            )
            ids: dict[str, int] = {}
            for user in dict.fromkeys([*(r.user for r in records), *(f.user for f in facts)]):
                add_user(conn, user)
                # Locked, as everything that adds to a user's quota locks it first.
                user_id = locked_user(conn, user)
                assert user_id is not None  # inserted just above
                ids[user] = user_id
            for fact in facts:
                made = (fact.project, fact.updated_at, fact.user, fact.project)
                conn.execute(IMPORT_PROJECT, made)
                conn.execute(_IMPORT_FACT, (*fact_values(self.cipher, fact), fact.user))
            for session in sessions:
                if write_session(conn, session, index=index) is None:
                    raise SessionExists(
                        f"user {session.user!r} already has a session {session.id!r}"
                    )
            add_continuations(conn, self.cipher, continuations, append_turn)
            # Counted with everything in: over a cap, all of the import is rolled back.
            added: list[tuple[Kind, list[str]]] = [
                ("sessions", [r.user for r in records]),
                ("facts", [f.user for f in facts]),
            ]
            for kind, users in added:
                for user in dict.fromkeys(users):
                    self.quotas.check(kind, user, count_of(conn, kind, ids[user]))

        self._db.write(work)
