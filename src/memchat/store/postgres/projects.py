"""The PostgreSQL store's projects: migration 0013, and the ``ProjectsRole`` hooks.

The same tables and rules as SQLite's (``sqlite/projects.py``). PostgreSQL changes a
UNIQUE constraint in place, so the facts table is altered, not rebuilt: its rows, their
ids and the rows that reference them stay where they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import SessionNotFound, UserNotFound
from ..codec import session_from_row
from ..crypto import Cipher
from ..records import Project, SessionInfo, now

if TYPE_CHECKING:
    from .pool import Connection, Database

PROJECTS_SCHEMA = (
    "ALTER TABLE sessions ADD COLUMN project text NOT NULL DEFAULT ''",
    "CREATE INDEX sessions_by_project ON sessions (user_id, project)",
    """
    CREATE TABLE projects (
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name text NOT NULL,
        memory text NOT NULL DEFAULT 'shared' CHECK (memory IN ('shared', 'scoped')),
        created_at text NOT NULL,
        PRIMARY KEY (user_id, name)
    )
    """,
    "ALTER TABLE facts ADD COLUMN project text NOT NULL DEFAULT ''",
    # The UNIQUE (user_id, key) of 0003, by whatever name PostgreSQL gave it.
    """
    DO $$
    DECLARE
        old text;
    BEGIN
        SELECT conname INTO old FROM pg_constraint
            WHERE conrelid = 'facts'::regclass AND contype = 'u';
        EXECUTE format('ALTER TABLE facts DROP CONSTRAINT %I', old);
    END $$
    """,
    "ALTER TABLE facts ADD CONSTRAINT facts_user_project_key UNIQUE (user_id, project, key)",
    "ALTER TABLE fact_history ADD COLUMN project text NOT NULL DEFAULT ''",
    "DROP INDEX fact_history_by_key",
    "CREATE INDEX fact_history_by_key ON fact_history (user_id, project, key, valid_to)",
    # As in 0010 (postgres/provenance.py), matching the history within the fact's project.
    """
    CREATE OR REPLACE FUNCTION fact_loses_sources() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        fact record;
        standing bigint;
    BEGIN
        SELECT id, user_id, project, key, traced INTO fact FROM facts WHERE id = OLD.fact_id;
        IF NOT FOUND OR NOT fact.traced
           OR EXISTS (SELECT 1 FROM fact_sources WHERE fact_id = fact.id) THEN
            RETURN NULL;
        END IF;
        SELECT h.id INTO standing FROM fact_history h
            WHERE h.user_id = fact.user_id AND h.project = fact.project AND h.key = fact.key
              AND (NOT h.traced OR EXISTS (SELECT 1 FROM fact_history_sources hs
                                           JOIN items i ON i.id = hs.item_id
                                           WHERE hs.history_id = h.id))
            ORDER BY h.valid_to DESC, h.id DESC LIMIT 1;
        IF standing IS NULL THEN
            DELETE FROM facts WHERE id = fact.id;
            RETURN NULL;
        END IF;
        UPDATE facts f SET value = h.value, source = h.source, traced = h.traced,
                valid_from = h.valid_from, updated_at = h.valid_from
            FROM fact_history h WHERE h.id = standing AND f.id = fact.id;
        INSERT INTO fact_sources (fact_id, item_id)
            SELECT fact.id, hs.item_id FROM fact_history_sources hs
            JOIN items i ON i.id = hs.item_id WHERE hs.history_id = standing;
        DELETE FROM fact_history WHERE id = standing;
        RETURN NULL;
    END $$
    """,
)

# A session's columns, with its project and whether that project's memory is scoped.
SESSION_COLUMNS = (
    "s.id, u.name, s.key, s.title, s.created_at, s.updated_at, s.turn_count, s.metadata,"
    " s.project, coalesce(p.memory = 'scoped', false)"
)
SESSIONS_FROM = (
    "sessions s JOIN users u ON u.id = s.user_id"
    " LEFT JOIN projects p ON p.user_id = s.user_id AND p.name = s.project"
)
_PROJECTS = """
    SELECT p.name, p.memory = 'scoped', p.created_at,
        (SELECT count(*) FROM sessions s WHERE s.user_id = p.user_id AND s.project = p.name),
        (SELECT count(*) FROM facts f WHERE f.user_id = p.user_id AND f.project = p.name)
    FROM projects p JOIN users u ON u.id = p.user_id WHERE u.name = %s ORDER BY p.name
"""

# The project of a fact being imported (project, its time, user, project), made unless it
# exists.
IMPORT_PROJECT = (
    "INSERT INTO projects (user_id, name, created_at) SELECT id, %s::text, %s FROM users"
    " WHERE name = %s AND %s <> '' ON CONFLICT (user_id, name) DO NOTHING"
)


def add_project(conn: Connection, user_id: int, project: str, stamp: str) -> None:
    """Make the user's ``project`` (shared) unless it exists; "" (no project) is no project."""
    if project:
        conn.execute(
            "INSERT INTO projects (user_id, name, created_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id, name) DO NOTHING",
            (user_id, project, stamp),
        )


class PostgresProjectsMixin:
    """Projects, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None

    def _list_projects(self, user: str) -> list[Project]:
        rows = self._db.read(lambda conn: conn.execute(_PROJECTS, (user,)).fetchall())
        return [Project(name, bool(scoped), at, int(n), int(f)) for name, scoped, at, n, f in rows]

    def _set_session_project(self, user: str, session_id: str, project: str) -> SessionInfo:
        def work(conn: Connection) -> SessionInfo | None:
            row = conn.execute(
                "SELECT s.id, s.user_id FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE u.name = %s AND s.key = %s",
                (user, session_id),
            ).fetchone()
            if row is None:
                return None
            add_project(conn, row[1], project, now())
            conn.execute("UPDATE sessions SET project = %s WHERE id = %s", (project, row[0]))
            found = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM {SESSIONS_FROM} WHERE s.id = %s", (row[0],)
            ).fetchone()
            assert found is not None
            return session_from_row(found, self.cipher)

        session = self._db.write(work)
        if session is None:
            raise SessionNotFound(f"user {user!r} has no session {session_id!r}")
        return session

    def _set_project_memory(self, user: str, project: str, scoped: bool) -> None:
        def work(conn: Connection) -> None:
            row = conn.execute("SELECT id FROM users WHERE name = %s", (user,)).fetchone()
            if row is None:
                raise UserNotFound(f"no user {user!r}")
            add_project(conn, row[0], project, now())
            conn.execute(
                "UPDATE projects SET memory = %s WHERE user_id = %s AND name = %s",
                ("scoped" if scoped else "shared", row[0], project),
            )

        self._db.write(work)

    def _delete_project(self, user: str, project: str) -> int:
        def work(conn: Connection) -> int:
            mine = "user_id = (SELECT id FROM users WHERE name = %s) AND"
            facts = conn.execute(f"DELETE FROM facts WHERE {mine} project = %s", (user, project))
            conn.execute(f"DELETE FROM fact_history WHERE {mine} project = %s", (user, project))
            conn.execute(
                f"UPDATE sessions SET project = '' WHERE {mine} project = %s", (user, project)
            )
            conn.execute(f"DELETE FROM projects WHERE {mine} name = %s", (user, project))
            return int(facts.rowcount)

        return self._db.write(work)
