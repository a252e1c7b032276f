"""The SQLite store's connection: reads, and writes as ``write(work)`` transactions.

The same shape as the PostgreSQL store's ``Database`` (``postgres/pool.py``): a read runs
``work(conn)`` as it is; a write runs it in one ``BEGIN IMMEDIATE`` transaction, committed
if it returns and rolled back if it raises, and runs it once more if the database was busy
(another process held the write lock past ``busy_timeout``), which is safe because nothing
of the first attempt was kept.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

from ...errors import CorruptData, StoreError

T = TypeVar("T")

# SQLite's primary result codes for "another connection holds the lock".
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Database:
    """One connection shared by threads, guarded by a lock."""

    def __init__(self, location: str, conn: sqlite3.Connection) -> None:
        self.location = location
        self.conn = conn
        self.lock = threading.RLock()

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` outside a write transaction; a database error is a StoreError."""
        with self.lock:
            try:
                return work(self.conn)
            except (sqlite3.Error, UnicodeError) as exc:
                raise store_error("read", self.location, exc) from exc

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction: committed on success, rolled back on any error,
        and run again once if the database was busy."""
        with self.lock:
            for attempt in (1, 2):
                try:
                    return self._attempt(work)
                except sqlite3.Error as exc:
                    if attempt == 1 and _busy(exc):
                        continue
                    raise store_error("write", self.location, exc) from exc
                except UnicodeError as exc:
                    raise store_error("write", self.location, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            # rollback() is a no-op if the error already ended the transaction, so the
            # original exception propagates.
            conn.rollback()
            raise
        return result

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY


def store_error(action: str, location: str, exc: Exception) -> StoreError:
    """A short, clear StoreError for a database error (never the stored text itself)."""
    if isinstance(exc, UnicodeError):
        return StoreError(f"cannot {action} {location}: text that is not valid UTF-8")
    if "Could not decode" in str(exc):
        # SQLite's message quotes the whole undecodable value: conversation content.
        return CorruptData(f"cannot {action} {location}: a stored value is not valid UTF-8")
    return StoreError(f"cannot {action} {location}: {exc}")
