"""Leaving no copy of deleted text in a PostgreSQL store's files, and looking for one.

A DELETE only marks rows dead; their bytes stay in the table's pages (and in its
indexes) until the space is reused, and a plain VACUUM frees the space without
overwriting it. ``scrub`` runs the store's ``vacuum``: VACUUM FULL writes each table and
its indexes anew, with live rows only, and ANALYZE replaces the planner's statistics,
whose samples of common values would otherwise keep deleted text; then a CHECKPOINT, so
the new files on disk hold what the server holds.

``scan`` reads those files (tables, their TOAST tables and every index of them) when the
server runs on this machine and they are readable (the process runs as the server's
user, or root): the same server is told by the system identifier in ``global/pg_control``.
Otherwise, and in any case for what the store's API does not show (the search index's
copies of the messages, the statistics), it looks through SQL, and says that the files
were not read. memchat's text columns are stored uncompressed (migration
``0014_uncompressed_text``), so a long message's words are in the TOAST table's bytes as
they are. Not scanned either way: the server's write-ahead log (``pg_wal``), which keeps
what was written until the server recycles its segments.
"""

from __future__ import annotations

import re
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from ..residue import Copy, file_size, scan_file
from .pool import Connection
from .schema import TABLES

if TYPE_CHECKING:
    from .store import PostgresStore

_RELATIONS = """
WITH base AS (
    SELECT c.oid, c.reltoastrelid FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %s AND c.relname = ANY(%s)
), heaps AS (
    SELECT oid FROM base UNION SELECT reltoastrelid FROM base WHERE reltoastrelid <> 0
), relations AS (
    SELECT oid FROM heaps
    UNION SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM heaps)
)
SELECT c.relname, pg_relation_filepath(c.oid) FROM pg_class c
WHERE c.oid IN (SELECT oid FROM relations) AND pg_relation_filepath(c.oid) IS NOT NULL
ORDER BY c.relname
"""


# The transaction id the server will give next, as a 32-bit xid (what pg_stat_activity
# shows): every transaction that committed before it was read is older.
_NEXT_XID = "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric % 4294967296)::text"
# Backends of this database, other than ours, whose snapshot or own transaction is older
# than that xid: VACUUM keeps every row deleted after their horizon. age() compares xids
# across wraparound. Only a superuser or pg_read_all_stats sees other roles' backends.
_OLDER = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
AND (age(backend_xmin) > age(%(xid)s::xid) OR age(backend_xid) > age(%(xid)s::xid))
ORDER BY pid
"""
# How long ``scrub`` waits for them: a turn's transaction lasts milliseconds.
WAIT = 30.0


def row_counts(store: PostgresStore) -> dict[str, int]:
    """How many rows each of the store's tables holds."""

    def count(conn: Connection) -> dict[str, int]:
        counts = {}
        for table in TABLES:
            row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts

    return store._db.read(count)


def scrub(store: PostgresStore, *, wait: float = WAIT) -> list[str]:
    """Rewrite the tables with live rows only and flush them; return what could not be
    done, in words."""
    notes = _wait_for_older_transactions(store, wait)
    store.vacuum()
    try:
        store._db.read(lambda conn: conn.execute("CHECKPOINT"))
    except psycopg.Error:
        # CHECKPOINT needs a superuser or pg_checkpoint: without it the rewritten files
        # reach the disk at the server's next checkpoint, holding no deleted row either.
        notes.append("no CHECKPOINT (it needs the pg_checkpoint role): files read as flushed")
    return notes


def _wait_for_older_transactions(store: PostgresStore, wait: float) -> list[str]:
    """Wait up to ``wait`` seconds for the transactions of this database that may still
    see what was deleted to end; return a note naming those that did not.

    VACUUM keeps a deleted row while a snapshot older than the delete is open, and a
    snapshot taken later is as old as the oldest transaction running then: so it waits
    for every snapshot and transaction older than the next transaction id, as read now.
    """
    row = store._db.read(lambda conn: conn.execute(_NEXT_XID).fetchone())
    after = {"xid": row[0] if row else "0"}
    deadline = time.monotonic() + wait
    while True:
        rows = store._db.read(lambda conn: conn.execute(_OLDER, after).fetchall())
        if not rows:
            return []
        if time.monotonic() >= deadline:
            pids = ", ".join(str(row[0]) for row in rows)
            return [
                f"transactions begun before the delete were still open (server pids {pids}):"
                " VACUUM keeps the rows they may see; run again when they end"
            ]
        time.sleep(0.1)


def scan(
    store: PostgresStore, needles: list[str], pattern: re.Pattern[bytes]
) -> tuple[list[Copy], list[str], list[str]]:
    """Every copy of the needles in the store's files, or through SQL where those cannot
    be read; what was scanned; and what could not be."""
    schema = store._db.schema
    copies = store._db.read(lambda conn: _in_derived_data(conn, schema, needles))
    scanned = ["the search index's messages and the planner's statistics, through SQL"]
    folder, why = store._db.read(_data_directory)
    if folder is None:
        return copies, scanned, [f"the raw table files could not be read: {why}"]
    relations = store._db.read(lambda conn: _relations(conn, schema))
    block = int(store._db.read(lambda conn: _setting(conn, "block_size")) or 8192)
    files = 0
    size = 0
    for name, relative in relations:
        for path in _segments(folder / relative):
            found = scan_file(path, pattern, lambda offset: _place(offset, block))
            copies += [Copy(c.needle, f"{name} ({path}), {c.where}") for c in found]
            files += 1
            size += file_size(path)
    scanned.append(f"{files} files of its tables and indexes in {folder} ({size:,} bytes)")
    return copies, scanned, []


def _in_derived_data(conn: Connection, schema: str, needles: list[str]) -> list[Copy]:
    if not needles:
        return []
    likes = [f"%{needle}%" for needle in needles]
    copies: list[Copy] = []
    rows = conn.execute(
        "SELECT m.item_id, lower(m.text || ' ' || m.context1 || ' ' || m.context2)"
        " FROM messages m WHERE lower(m.text || ' ' || m.context1 || ' ' || m.context2)"
        " LIKE ANY(%s) ORDER BY m.item_id",
        (likes,),
    ).fetchall()
    for item_id, text in rows:
        copies += [
            Copy(n, f"the search index (messages), item {item_id}") for n in needles if n in text
        ]
    stats = conn.execute(
        "SELECT tablename, attname, lower(coalesce(most_common_vals::text, '')"
        " || ' ' || coalesce(histogram_bounds::text, '')) FROM pg_stats"
        " WHERE schemaname = %s ORDER BY tablename, attname",
        (schema,),
    ).fetchall()
    for table, column, text in stats:
        copies += [
            Copy(n, f"the planner's statistics of {table}.{column}") for n in needles if n in text
        ]
    return copies


def _data_directory(conn: Connection) -> tuple[Path | None, str]:
    """The server's data directory if it is this machine's and readable, else None and
    why not."""
    try:
        row = conn.execute(
            "SELECT current_setting('data_directory'), system_identifier FROM pg_control_system()"
        ).fetchone()
    except psycopg.Error as exc:
        return None, f"the server does not tell its data directory ({exc.sqlstate})"
    if row is None:
        return None, "the server does not tell its data directory"
    folder = Path(row[0])
    try:
        with (folder / "global" / "pg_control").open("rb") as file:
            (identifier,) = struct.unpack("<Q", file.read(8))
    except OSError as exc:
        return None, f"{folder} is not readable here ({exc.strerror})"
    if identifier != int(row[1]):
        return None, f"{folder} here is another server's"
    return folder, ""


def _relations(conn: Connection, schema: str) -> list[tuple[str, str]]:
    rows = conn.execute(_RELATIONS, (schema, list(TABLES))).fetchall()
    return [(str(name), str(path)) for name, path in rows]


def _setting(conn: Connection, name: str) -> str | None:
    row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
    return None if row is None else str(row[0])


def _segments(path: Path) -> list[Path]:
    """A relation's files: the first, then ``.1``, ``.2``... (one per gigabyte)."""
    found = [path]
    while (following := path.with_name(f"{path.name}.{len(found)}")).exists():
        found.append(following)
    return found


def _place(offset: int, block: int) -> str:
    return f"offset {offset:,} (page {offset // block})"
