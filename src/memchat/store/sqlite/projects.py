"""The SQLite store's projects: migration 0013, and the ``ProjectsRole`` hooks.

A session's ``project`` is a column ("" for none); a user's ``projects`` rows say how
each project remembers (``memory``: shared or scoped). A fact's ``project`` is "" for a
user-wide fact, else the scoped project it was learned in, so ``UNIQUE (user_id, project,
key)`` keeps one value of a key per project.

Changing facts' UNIQUE constraint means rebuilding the table, inside the migration's
transaction, where ``PRAGMA foreign_keys`` cannot be switched off. Dropping the old
``facts`` with foreign keys on would delete its rows first and cascade to ``fact_sources``;
so its one child is rebuilt too: the new ``facts`` and ``fact_sources`` are made and
filled beside the old ones, the old child is dropped (the implicit delete of a DROP fires
no trigger, and the child has no children), then the old parent (by then nobody's parent),
and the new tables take the old names (a rename carries the child's reference along).
"""

from __future__ import annotations

import sqlite3

from ...errors import SessionNotFound, UserNotFound
from ..codec import session_from_row
from ..crypto import Cipher
from ..records import Project, SessionInfo, now
from .database import Database

# The earlier value a sourceless fact falls back to (as in provenance.py), of its project.
_STANDING = """
    SELECT h.id FROM fact_history h, facts f
    WHERE f.id = old.fact_id AND h.user_id = f.user_id AND h.project = f.project
      AND h.key = f.key
      AND (h.traced = 0 OR EXISTS (SELECT 1 FROM fact_history_sources hs
                                   JOIN items i ON i.id = hs.item_id
                                   WHERE hs.history_id = h.id))
    ORDER BY h.valid_to DESC, h.id DESC LIMIT 1
"""

PROJECTS_SCHEMA = (
    "ALTER TABLE sessions ADD COLUMN project TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX sessions_by_project ON sessions (user_id, project)",
    """
    CREATE TABLE projects (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        memory TEXT NOT NULL DEFAULT 'shared' CHECK (memory IN ('shared', 'scoped')),
        created_at TEXT NOT NULL,
        PRIMARY KEY (user_id, name)
    )
    """,
    # Recreated below, to match a fact's history within its project.
    "DROP TRIGGER fact_loses_sources",
    """
    CREATE TABLE facts_new (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        project TEXT NOT NULL DEFAULT '',
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        traced INTEGER NOT NULL DEFAULT 0,
        valid_from TEXT,
        UNIQUE (user_id, project, key)
    )
    """,
    "INSERT INTO facts_new (id, user_id, key, value, source, created_at, updated_at, traced,"
    " valid_from) SELECT id, user_id, key, value, source, created_at, updated_at, traced,"
    " valid_from FROM facts",
    """
    CREATE TABLE fact_sources_new (
        fact_id INTEGER NOT NULL REFERENCES facts_new (id) ON DELETE CASCADE,
        item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (fact_id, item_id)
    ) WITHOUT ROWID
    """,
    "INSERT INTO fact_sources_new (fact_id, item_id) SELECT fact_id, item_id FROM fact_sources",
    "DROP TABLE fact_sources",
    "DROP TABLE facts",
    "ALTER TABLE facts_new RENAME TO facts",
    "ALTER TABLE fact_sources_new RENAME TO fact_sources",
    "CREATE INDEX fact_sources_by_item ON fact_sources (item_id)",
    "ALTER TABLE fact_history ADD COLUMN project TEXT NOT NULL DEFAULT ''",
    "DROP INDEX fact_history_by_key",
    "CREATE INDEX fact_history_by_key ON fact_history (user_id, project, key, valid_to)",
    f"""
    CREATE TRIGGER fact_loses_sources AFTER DELETE ON fact_sources
    WHEN (SELECT traced FROM facts WHERE id = old.fact_id) = 1
     AND NOT EXISTS (SELECT 1 FROM fact_sources WHERE fact_id = old.fact_id)
    BEGIN
        INSERT INTO fact_sources (fact_id, item_id)
            SELECT old.fact_id, hs.item_id FROM fact_history_sources hs
            JOIN items i ON i.id = hs.item_id WHERE hs.history_id = ({_STANDING});
        UPDATE facts SET (value, source, traced, valid_from, updated_at) = (
            SELECT h.value, h.source, h.traced, h.valid_from, h.valid_from
            FROM fact_history h WHERE h.id = ({_STANDING}))
            WHERE id = old.fact_id AND ({_STANDING}) IS NOT NULL;
        DELETE FROM fact_history WHERE id = ({_STANDING});
        DELETE FROM facts WHERE id = old.fact_id AND traced = 1
            AND NOT EXISTS (SELECT 1 FROM fact_sources WHERE fact_id = old.fact_id);
    END
    """,
)

# A session's columns, with its project and whether that project's memory is scoped.
SESSION_COLUMNS = (
    "s.id, u.name, s.key, s.title, s.created_at, s.updated_at, s.turn_count, s.metadata,"
    " s.project, coalesce(p.memory = 'scoped', 0)"
)
SESSIONS_FROM = (
    "sessions s JOIN users u ON u.id = s.user_id"
    " LEFT JOIN projects p ON p.user_id = s.user_id AND p.name = s.project"
)
_PROJECTS = """
    SELECT p.name, p.memory = 'scoped', p.created_at,
        (SELECT count(*) FROM sessions s WHERE s.user_id = p.user_id AND s.project = p.name),
        (SELECT count(*) FROM facts f WHERE f.user_id = p.user_id AND f.project = p.name)
    FROM projects p JOIN users u ON u.id = p.user_id WHERE u.name = ? ORDER BY p.name
"""

# The project of a fact being imported (project, its time, user, project), made unless it
# exists.
IMPORT_PROJECT = (
    "INSERT INTO projects (user_id, name, created_at) SELECT id, ?, ? FROM users"
    " WHERE name = ? AND ? <> '' ON CONFLICT (user_id, name) DO NOTHING"
)


def add_project(conn: sqlite3.Connection, user_id: int, project: str, stamp: str) -> None:
    """Make the user's ``project`` (shared) unless it exists; "" (no project) is no project."""
    if project:
        conn.execute(
            "INSERT INTO projects (user_id, name, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, name) DO NOTHING",
            (user_id, project, stamp),
        )


class SQLiteProjectsMixin:
    """Projects, mixed into :class:`SQLiteStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None

    def _list_projects(self, user: str) -> list[Project]:
        rows = self._db.read(lambda conn: conn.execute(_PROJECTS, (user,)).fetchall())
        return [Project(name, bool(scoped), at, n, f) for name, scoped, at, n, f in rows]

    def _set_session_project(self, user: str, session_id: str, project: str) -> SessionInfo:
        def work(conn: sqlite3.Connection) -> SessionInfo | None:
            row = conn.execute(
                "SELECT s.id, s.user_id FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE u.name = ? AND s.key = ?",
                (user, session_id),
            ).fetchone()
            if row is None:
                return None
            add_project(conn, row[1], project, now())
            conn.execute("UPDATE sessions SET project = ? WHERE id = ?", (project, row[0]))
            found = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM {SESSIONS_FROM} WHERE s.id = ?", (row[0],)
            ).fetchone()
            return session_from_row(found, self.cipher)

        session = self._db.write(work)
        if session is None:
            raise SessionNotFound(f"user {user!r} has no session {session_id!r}")
        return session

    def _set_project_memory(self, user: str, project: str, scoped: bool) -> None:
        def work(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
            if row is None:
                raise UserNotFound(f"no user {user!r}")
            add_project(conn, row[0], project, now())
            conn.execute(
                "UPDATE projects SET memory = ? WHERE user_id = ? AND name = ?",
                ("scoped" if scoped else "shared", row[0], project),
            )

        self._db.write(work)

    def _delete_project(self, user: str, project: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            mine = "user_id = (SELECT id FROM users WHERE name = ?) AND"
            facts = conn.execute(f"DELETE FROM facts WHERE {mine} project = ?", (user, project))
            conn.execute(f"DELETE FROM fact_history WHERE {mine} project = ?", (user, project))
            conn.execute(
                f"UPDATE sessions SET project = '' WHERE {mine} project = ?", (user, project)
            )
            conn.execute(f"DELETE FROM projects WHERE {mine} name = ?", (user, project))
            return int(facts.rowcount)

        return self._db.write(work)
