"""The SQLite store's schema: its migrations, run by the shared runner (``migrations.py``).

Each migration runs in one transaction together with the row that records it, so a crash
mid-migration leaves the database as it was. Opening a store migrates it: a new and an old
database take the same path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..migrations import Migration
from ..migrations import migrate as run
from .index import OWNED_SCHEMA, SEARCH_SCHEMA
from .projects import PROJECTS_SCHEMA
from .provenance import PROVENANCE_SCHEMA
from .usage import USAGE_SCHEMA

MIGRATIONS: list[Migration] = [
    (
        "0001_initial",
        (
            """
            CREATE TABLE users (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                current_session TEXT
            )
            """,
            """
            CREATE TABLE sessions (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                title TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                turn_count INTEGER NOT NULL DEFAULT 0,
                last_seq INTEGER NOT NULL DEFAULT 0,
                metadata TEXT NOT NULL DEFAULT '{}',
                UNIQUE (user_id, key)
            )
            """,
            # No index on updated_at: every turn changes it, and an index would cost every
            # turn write a page; UNIQUE (user_id, key) already finds a user's sessions.
            # A turn is the items sharing (session_id, seq); created_at is the turn's time.
            """
            CREATE TABLE items (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                data TEXT NOT NULL
            )
            """,
            "CREATE INDEX items_by_turn ON items (session_id, seq, id)",
        ),
    ),
    # The full-text index of messages (see sqlite/index.py); the first search fills it.
    ("0002_search", SEARCH_SCHEMA),
    (
        "0003_memory",
        (
            """
            CREATE TABLE facts (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                source TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                UNIQUE (user_id, key)
            )
            """,
            """
            CREATE TABLE summaries (
                session_id INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
                through_seq INTEGER NOT NULL,
                text TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
        ),
    ),
    (
        "0004_auth",
        (
            # Only the token's SHA-256 is kept: a copy of the database lets nobody log in.
            """
            CREATE TABLE tokens (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                hash TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                last_used_at TEXT
            )
            """,
            "CREATE INDEX tokens_by_user ON tokens (user_id)",
            "ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    # What the search index holds: "plain" words, "blind:<key>" hashes (an encrypted store
    # with MEMCHAT_ENCRYPTED_SEARCH), or "off" (encrypted, no index); see sqlite/index.py.
    (
        "0005_search_mode",
        ("ALTER TABLE search_state ADD COLUMN mode TEXT NOT NULL DEFAULT 'plain'",),
    ),
    # Each user's rate-limit state (MEMCHAT_RATE_LIMIT; see rates.py): one number.
    (
        "0006_rate_limits",
        (
            """
            CREATE TABLE rate_limits (
                user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                tat REAL NOT NULL
            )
            """,
        ),
    ),
    # Messages kept out of recall: those that stated a fact the user asked to forget.
    (
        "0007_recall_hidden",
        (
            """
            CREATE TABLE recall_hidden (
                item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE
            )
            """,
        ),
    ),
    # What an encrypted store knows of its sealing (see sealing.py): the ids of the keys
    # its rows are sealed under (a JSON list; NULL: not recorded), and up to which item
    # the items are known to be sealed. Deleting the newest items lowers that mark, since
    # SQLite gives their ids to the next items, which nobody has checked.
    (
        "0008_sealing",
        (
            """
            CREATE TABLE sealing (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                key_ids TEXT,
                checked_through INTEGER NOT NULL DEFAULT 0
            )
            """,
            "INSERT INTO sealing (id) VALUES (1)",
            """
            CREATE TRIGGER sealing_items_delete AFTER DELETE ON items
            WHEN old.id <= (SELECT checked_through FROM sealing) BEGIN
                UPDATE sealing SET checked_through = (SELECT coalesce(max(id), 0) FROM items)
                    WHERE checked_through > (SELECT coalesce(max(id), 0) FROM items);
            END
            """,
        ),
    ),
    # Index rows name their user, so recall's statistics are the user's own.
    ("0009_search_owner", OWNED_SCHEMA),
    # Where each fact came from and what it was before; forgetting cascades from messages
    # to facts and summaries (see provenance.py).
    ("0010_fact_provenance", PROVENANCE_SCHEMA),
    # Branches (store/tree.py): an item's ``branch`` is 0 on the active line, else the
    # inactive branch that holds it; the turn index leads with it, so every read of the
    # active line reads only its rows.
    (
        "0011_branches",
        (
            "ALTER TABLE items ADD COLUMN branch INTEGER NOT NULL DEFAULT 0",
            "DROP INDEX items_by_turn",
            "CREATE INDEX items_by_turn ON items (session_id, branch, seq, id)",
            """
            CREATE TABLE branches (
                session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                id INTEGER NOT NULL,
                parent INTEGER NOT NULL,
                fork_seq INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (session_id, id)
            )
            """,
        ),
    ),
    # What each turn cost: its model, tokens and times (see usage.py).
    ("0012_usage", USAGE_SCHEMA),
    # Projects (sqlite/projects.py): a session's project, each project's memory (shared
    # or scoped), and facts unique per (user, project, key), "" being user-wide.
    ("0013_projects", PROJECTS_SCHEMA),
    # PostgreSQL's text columns stopped being compressed (for the byte scan of verified
    # forgetting); SQLite never compresses. The name keeps both schemas at the same version.
    ("0014_uncompressed_text", ()),
]

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS memchat_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


class _SQLite:
    """The runner's ``Dialect`` for a SQLite connection in autocommit mode."""

    bookkeeping = _BOOKKEEPING
    placeholder = "?"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock at once: a second process opening the
        # database waits here rather than apply a migration twice.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            # rollback() is a no-op if the error already ended the transaction, so the
            # original exception propagates.
            self.conn.rollback()
            raise

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement, tuple(params)).fetchall()


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations the database lacks and return their names (``migrations.py``).

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    return run(_SQLite(conn), migrations)
