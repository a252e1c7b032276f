"""Leaving no copy of deleted text in a SQLite store's files, and looking for one.

A delete overwrites the deleted rows with zeros (``secure_delete`` is on, see
``sqlite/store.py``), also the pages it frees, but two copies outlive it:

- the full-text index keeps a deleted message's terms in its segments, marked deleted,
  until the segments happen to be merged: ``scrub`` merges them all ('optimize');
- the write-ahead log keeps the pages as they were before, until a checkpoint copies the
  log into the database: ``scrub`` checkpoints and empties it (TRUNCATE), which another
  process reading the database at that moment prevents (and ``scrub`` says so).

``scan`` then reads the database file (free pages included), its write-ahead log and a
rollback journal if one is left, and places each copy it finds: the page, and the table
or index the page belongs to, or "a free page".
"""

from __future__ import annotations

import re
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ...errors import StoreError
from ..residue import Copy, file_size, scan_file

if TYPE_CHECKING:
    from .store import SQLiteStore

# Every table that holds something of a user, counted for a receipt.
TABLES = (
    "users",
    "sessions",
    "projects",
    "items",
    "items_fts",
    "branches",
    "facts",
    "fact_sources",
    "fact_history",
    "fact_history_sources",
    "summaries",
    "recall_hidden",
    "tokens",
    "rate_limits",
    "turn_usage",
)
T = TypeVar("T")
_WAL_HEADER = 32
_FRAME_HEADER = 24


def row_counts(store: SQLiteStore) -> dict[str, int]:
    """How many rows each of :data:`TABLES` holds."""
    return _query(
        store,
        lambda conn: {
            table: int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            for table in TABLES
        },
    )


def _query(store: SQLiteStore, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work`` on the store's connection, under its lock."""
    # The lock and the connection, not the store's own read helper: this module reads
    # what any version of the store keeps there.
    with store._lock:
        try:
            return work(store._conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {store.location}: {exc}") from exc


def scrub(store: SQLiteStore) -> list[str]:
    """Merge the full-text index and empty the write-ahead log; return what could not be
    done, in words (nothing when all went well)."""
    with store._lock:
        conn = store._conn
        try:
            conn.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
            if store.location == ":memory:":
                return []
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot scrub {store.location}: {exc}") from exc
    if busy:
        return [
            "another process reading the database kept its write-ahead log from being"
            " emptied: what it holds is scanned below; run again when it is done"
        ]
    return []


def scan(
    store: SQLiteStore, needles: list[str], pattern: re.Pattern[bytes]
) -> tuple[list[Copy], list[str], list[str]]:
    """Every copy of the needles (``pattern`` finds them) in the store's files, what was
    read (each file and its size), and what could not be."""
    if store.location == ":memory:":
        return [], [], ["an in-memory database: no file to scan"]
    path = Path(store.location).expanduser()
    pages = _Pages(store)
    copies: list[Copy] = []
    scanned: list[str] = []
    for file, locate in (
        (path, pages.in_database),
        (_beside(path, "-wal"), pages.in_log),
        (_beside(path, "-journal"), lambda offset: f"offset {offset:,}"),
    ):
        if file.exists() or file == path:
            found = scan_file(file, pattern, locate)
            copies += [Copy(c.needle, f"{file.name}, {c.where}") for c in found]
            scanned.append(f"{file.name} ({file_size(file):,} bytes)")
    return copies, scanned, []


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


class _Pages:
    """Which table or index each page of the database belongs to, read when first asked."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._owners: dict[int, str] | None = None
        self._free: set[int] = set()
        self.size = _query(store, lambda conn: int(conn.execute("PRAGMA page_size").fetchone()[0]))

    def in_database(self, offset: int) -> str:
        page = offset // self.size + 1
        return f"offset {offset:,} (page {page}: {self._owner(page)})"

    def in_log(self, offset: int) -> str:
        frame = max(0, offset - _WAL_HEADER) // (_FRAME_HEADER + self.size)
        start = _WAL_HEADER + frame * (_FRAME_HEADER + self.size)
        log = _beside(Path(self._store.location).expanduser(), "-wal")
        with log.open("rb") as file:
            file.seek(start)
            (page,) = struct.unpack(">I", file.read(4) or b"\0\0\0\0")
        return f"offset {offset:,} (frame {frame + 1}, a copy of page {page})"

    def _owner(self, page: int) -> str:
        if self._owners is None:
            # dbstat walks every b-tree; only read when something was found.
            rows = _query(
                self._store, lambda conn: conn.execute("SELECT name, pageno FROM dbstat").fetchall()
            )
            self._owners = {int(pageno): str(name) for name, pageno in rows}
            self._free = set(_free_pages(Path(self._store.location).expanduser(), self.size))
        if page in self._free:
            return "a free page"
        return self._owners.get(page, "a page of no table")


def _free_pages(path: Path, page_size: int) -> list[int]:
    """The page numbers on the database file's freelist (trunk and leaf pages).

    Read from the file (sqlite_dbpage needs a build option): right once the write-ahead
    log has been checkpointed, as ``scrub`` does; a page number only labels a copy.
    """
    free: list[int] = []
    with path.open("rb") as file:
        file.seek(32)
        (trunk,) = struct.unpack(">I", file.read(4))
        while trunk and len(free) < 1 << 24:
            file.seek((trunk - 1) * page_size)
            data = file.read(page_size)
            following, count = struct.unpack(">II", data[:8])
            free.append(trunk)
            free += struct.unpack(f">{count}I", data[8 : 8 + 4 * count])
            trunk = following
    return free
