"""Copy a SQLite store into PostgreSQL, verified, and resumable after an interruption.

Rows are matched by their natural keys (a user's name, a session's user and id), not by
their numeric ids, so the target may already hold other users. A copy is an export of the
source (``sqlite/sessions.py``'s ``read_sessions``: each session as stored) and an import
into the target through the function every import uses (``postgres/sessions.py``'s
``write_session``), each session in one transaction with its turns and summary; a
session the target already has is skipped: a copy that was interrupted is finished by
running it again. Every item's JSON
text is copied byte for byte, turns keep their sequence numbers and sessions their
counters; the search index is rebuilt as the items go in.

An encrypted source (``MEMCHAT_ENCRYPTION_KEY``) is copied as it is, sealed, into a target
opened with the same key, which then keeps no search index (see ``crypto.py``); without
the key it is refused. Verification compares row counts and per-session SHA-256 checksums
of both sides.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from psycopg import sql

from ...errors import StoreError, UnsealedData
from ..crypto import Cipher, unseal
from ..sealed_rows import WHOLE, plaintext_sql, sample_sql
from ..sealing import SEALED_COLUMNS
from ..sqlite.sessions import read_sessions
from ..sqlite.store import SQLiteStore
from ..stored import StoredSession
from .pool import Connection
from .sessions import write_session
from .store import PostgresStore

# What is counted on both sides; items and messages follow from the sessions.
COUNTED = (
    "users",
    "sessions",
    "projects",
    "items",
    "branches",
    "facts",
    "summaries",
    "tokens",
    "recall_hidden",
    "turn_usage",
)

Progress = Callable[[int], None]


@dataclass
class CopyReport:
    """What a copy did: sessions copied and skipped, and what verification found."""

    copied: int = 0
    skipped: int = 0
    items: int = 0
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when every count and checksum matched."""
        return not self.mismatches


class SQLiteSource:
    """A SQLite store opened read-only for copying (after migrating it like any open)."""

    def __init__(self, path: str) -> None:
        SQLiteStore(path).close()  # brings an older file up to the current schema
        try:
            self.conn = sqlite3.connect(f"file:{Path(path).expanduser()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc

    def close(self) -> None:
        """Close the file."""
        self.conn.close()

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the SQLite source: {exc}") from exc

    def sealed(self) -> list[str]:
        """One value of each column that has any sealed with MEMCHAT_ENCRYPTION_KEY."""
        return [row[0] for column in SEALED_COLUMNS for row in self.rows(sample_sql(column))]

    def plaintext(self) -> list[str]:
        """What holds values that are not sealed: "messages", "session titles"..."""
        return [
            column.shown
            for column in SEALED_COLUMNS
            if self.rows(plaintext_sql(column, "?"), WHOLE)
        ]

    def sessions(self, cipher: Cipher | None) -> Iterator[StoredSession]:
        """Every session as stored, one at a time (its items opened with ``cipher`` to
        check them and to index them)."""
        found = read_sessions(self.conn, cipher)
        while True:
            try:
                session = next(found)
            except StopIteration:
                return
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the SQLite source: {exc}") from exc
            yield session

    def count(self, table: str) -> int:
        """The number of rows in ``table`` (one of COUNTED)."""
        return int(self.rows(f'SELECT count(*) FROM "{table}"')[0][0])


def copy_sqlite(source: SQLiteSource, target: PostgresStore, progress: Progress) -> CopyReport:
    """Copy everything in ``source`` into ``target``; ``progress(items)`` after each session.

    Sealed values are copied as they are: ``target`` must have the key that opens them.
    """
    sealed = source.sealed()
    if sealed and target.cipher is None:
        raise StoreError(
            "the SQLite database is encrypted at rest: set MEMCHAT_ENCRYPTION_KEY to its key"
            " to copy it; nothing was copied"
        )
    for value in sealed:
        # A wrong key fails here (CorruptData), before anything is copied.
        unseal(target.cipher, value)
    plain = source.plaintext() if target.cipher is not None else []
    if plain:
        # Copied as they are, they would be plaintext in a store opened with a key.
        raise UnsealedData(
            f"the SQLite database holds {', '.join(plain)} in plaintext: run `memchat encrypt`"
            " on it first (or copy it without MEMCHAT_ENCRYPTION_KEY, then run `memchat"
            " encrypt` on PostgreSQL); nothing was copied"
        )
    report = CopyReport()
    db = target._db
    users = source.rows("SELECT name, created_at, current_session, is_admin FROM users")
    db.write(lambda conn: _copy_users(conn, source, users))
    index = target.cipher is None
    # The export of the source, session by session, as stored; each one goes in through
    # the one function that writes a whole session, in a transaction of its own.
    for session in source.sessions(target.cipher):
        if db.write(partial(write_session, session=session, index=index)) is not None:
            report.copied += 1
        else:
            report.skipped += 1
        items = sum(len(turn.data) for turn in session.turns)
        report.items += items
        progress(items)
    return report


def _copy_users(conn: Connection, source: SQLiteSource, users: list[tuple[Any, ...]]) -> None:
    """Users (with their current session and role), their projects, facts and token
    hashes."""
    for name, created_at, current, is_admin in users:
        conn.execute(
            "INSERT INTO users (name, created_at, current_session, is_admin)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
            " current_session = excluded.current_session, is_admin = excluded.is_admin",
            (name, created_at, current, bool(is_admin)),
        )
    owned = "JOIN users u ON u.id = t.user_id"
    projects = source.rows(f"SELECT u.name, t.name, t.memory, t.created_at FROM projects t {owned}")
    facts = source.rows(
        "SELECT u.name, t.project, t.key, t.value, t.source, t.created_at, t.updated_at"
        f" FROM facts t {owned}"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO projects (user_id, name, memory, created_at)"
            " SELECT id, %s, %s, %s FROM users WHERE name = %s"
            " ON CONFLICT (user_id, name) DO UPDATE SET memory = excluded.memory",
            [(*row[1:], row[0]) for row in projects],
        )
        cur.executemany(
            "INSERT INTO facts (user_id, project, key, value, source, created_at, updated_at)"
            " SELECT id, %s, %s, %s, %s, %s, %s FROM users WHERE name = %s"
            " ON CONFLICT (user_id, project, key) DO NOTHING",
            [(*row[1:], row[0]) for row in facts],
        )
        tokens = source.rows(
            f"SELECT u.name, t.hash, t.created_at, t.last_used_at FROM tokens t {owned}"
        )
        cur.executemany(
            "INSERT INTO tokens (user_id, hash, created_at, last_used_at)"
            " SELECT id, %s, %s, %s FROM users WHERE name = %s ON CONFLICT (hash) DO NOTHING",
            [(*row[1:], row[0]) for row in tokens],
        )


# -- verification ----------------------------------------------------------------------------


def verify(source: SQLiteSource, target: PostgresStore, report: CopyReport) -> None:
    """Compare counts and per-session checksums of both sides; record them in ``report``."""
    db = target._db
    for table in COUNTED:
        report.counts[table] = (source.count(table), db.read(_counter(table)))
    for table, (here, there) in report.counts.items():
        if here != there:
            report.mismatches.append(f"{table}: {here} in SQLite, {there} in PostgreSQL")
    ours = _checksums(source.rows(_SQLITE_SESSIONS), lambda pk: source.rows(_SQLITE_ROWS, (pk,)))
    theirs = _checksums(
        db.read(lambda conn: conn.execute(_PG_SESSIONS).fetchall()),
        lambda pk: db.read(lambda conn: conn.execute(_PG_ROWS, (pk,)).fetchall()),
    )
    for name in sorted(ours.keys() | theirs.keys()):
        if ours.get(name) != theirs.get(name):
            report.mismatches.append(f"session {name}: checksums differ")
    facts = "SELECT u.name, f.project, f.key, f.value, f.source, f.created_at, f.updated_at"
    facts += " FROM facts f JOIN users u ON u.id = f.user_id ORDER BY u.name, f.project, f.key"
    if _digest(source.rows(facts)) != _digest(db.read(lambda c: c.execute(facts).fetchall())):
        report.mismatches.append("facts: checksums differ")


def _counter(table: str) -> Callable[[Connection], int]:
    """A read that counts the rows of ``table`` in PostgreSQL."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))

    def count(conn: Connection) -> int:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0

    return count


_SESSION_FIELDS = (
    "s.id, u.name || '/' || s.key, s.title, s.created_at, s.updated_at, s.turn_count,"
    " s.last_seq, s.metadata, s.project, m.through_seq, m.text, m.updated_at"
    " FROM sessions s JOIN users u ON u.id = s.user_id"
    " LEFT JOIN summaries m ON m.session_id = s.id"
)
_SQLITE_SESSIONS = f"SELECT {_SESSION_FIELDS}"
_PG_SESSIONS = f"SELECT {_SESSION_FIELDS}"
_SQLITE_ROWS = (
    "SELECT seq, created_at, data, branch FROM items WHERE session_id = ? ORDER BY seq, id"
)
_PG_ROWS = "SELECT seq, created_at, data, branch FROM items WHERE session_id = %s ORDER BY seq, id"


def _checksums(
    sessions: list[tuple[Any, ...]], rows_of: Callable[[int], list[tuple[Any, ...]]]
) -> dict[str, str]:
    """``user/session`` -> SHA-256 of its fields, summary and every item row in order."""
    return {str(row[1]): _digest([row[1:], *rows_of(int(row[0]))]) for row in sessions}


def _digest(rows: Iterable[Iterable[Any]]) -> str:
    """A SHA-256 of rows, with each value's type and text (so 1 and "1" differ)."""
    digest = hashlib.sha256()
    for row in rows:
        for value in row:
            text = "" if value is None else str(value)
            digest.update(f"{type(value).__name__}:{len(text)}:{text};".encode())
        digest.update(b"\n")
    return digest.hexdigest()
