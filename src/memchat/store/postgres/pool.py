"""The PostgreSQL store's connections: two pools, retries, and the turns' connections.

Reads and writes borrow a connection from a ``psycopg_pool.ConnectionPool`` for one call.
A connection found broken (the server restarted, or an administrator terminated it) is
retried once on a fresh one: always for a read, and for a write only when the error came
before ``COMMIT`` was sent, so the transaction certainly did not commit.

A turn holds its session's lock from reading the history to committing the reply, which
includes the model call. The lock is a session-level ``pg_advisory_lock`` on a connection
that the turn keeps until it ends, taken from a second pool of its own (so open turns
never starve other calls), and every store call the turn makes runs on that connection: a
turn costs one connection however many calls it makes, and cannot deadlock waiting for a
second. A crashed process's locks go with its connections. If a turn's connection breaks,
PostgreSQL has released the lock, so the turn's writes fail rather than retry elsewhere:
a retry could interleave with a turn that took the lock since. A transaction held open for
the turn (``pg_advisory_xact_lock``) would also work, but would sit idle in transaction
for the whole model call, which poolers and ``idle_in_transaction_session_timeout``
punish, and would tie the turn's other writes (facts, summaries) to its outcome. The locks
themselves are ``postgres/locks.py``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import StoreError
from .locks import POOL_TIMEOUT, Connection, TurnLocks, first_line, held_by
from .schema import lock_key, migrate
from .url import Target

# The pool logs each broken connection it discards as a warning; memchat retries or reports
# those itself, so without a logging setup of the program's own they are not printed.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

T = TypeVar("T")

__all__ = ["POOL_TIMEOUT", "Connection", "Database"]


class _Failed(Exception):
    """A psycopg error, and whether ``COMMIT`` had been sent when it happened."""

    def __init__(self, cause: psycopg.Error, conn: Connection, committing: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.conn = conn
        self.committing = committing

    def retryable(self, write: bool) -> bool:
        """True when running the work again cannot do it twice."""
        if isinstance(self.cause, psycopg.errors.TransactionRollback):
            return True  # the server rolled the transaction back (deadlock, serialization)
        broken = isinstance(self.cause, psycopg.OperationalError) and self.conn.broken
        return broken and not (write and self.committing)


class Database:
    """Pools of autocommit connections to one schema, migrated when opened."""

    def __init__(self, target: Target) -> None:
        self.target = target
        try:
            first = psycopg.connect(target.conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {target.shown}: {first_line(exc)}"
            ) from exc
        try:
            with first:
                self.schema = self._enter_schema(first)
                migrate(first, self.schema)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open PostgreSQL at {target.shown}: {exc}") from exc
        # Calls borrow from one pool for a moment; turns hold a connection of the other for
        # a whole model call, so however many turns are open, calls never wait for one.
        self._pool = self._new_pool("calls", min_size=1)
        self._turns = self._new_pool("turns", min_size=0)
        self._locks = TurnLocks(
            self,
            self._turns,
            schema=self.schema,
            shown=target.shown,
            size=target.pool_size,
            unreachable=self._unreachable,
        )

    def _new_pool(self, name: str, *, min_size: int) -> ConnectionPool[Connection]:
        """An open pool of up to ``pool_size`` autocommit connections to the schema."""
        pool: ConnectionPool[Connection] = ConnectionPool(
            self.target.conninfo,
            # Every statement is prepared on its first use: the same few run on every turn.
            kwargs={"autocommit": True, "prepare_threshold": 0},
            min_size=min_size,
            max_size=self.target.pool_size,
            configure=self._configure,
            timeout=POOL_TIMEOUT,
            name=f"memchat {name} {self.target.shown}",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=POOL_TIMEOUT)
        except PoolTimeout as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.target.shown}") from exc
        return pool

    def _enter_schema(self, conn: Connection) -> str:
        """Create the URL's schema if needed, put it on the search path, and return it."""
        schema = self.target.schema
        if schema is not None:
            with conn.transaction():
                # Under the migration lock: CREATE SCHEMA IF NOT EXISTS can race itself.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (lock_key("memchat-migrate", schema),)
                )
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
            self._configure(conn)
        row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise StoreError(f"{self.target.shown}: the search path names no existing schema")
        return str(row[0])

    def _configure(self, conn: Connection) -> None:
        """Prepare a new connection: the schema first on its search path."""
        if self.target.schema is not None:
            schema = sql.Identifier(self.target.schema)
            conn.execute(sql.SQL("SET search_path TO {}").format(schema))

    def close(self) -> None:
        """Close every connection; turns still open lose their locks."""
        self._pool.close()
        self._turns.close()
        self._locks.close()

    def hold(self, *parts: str) -> AbstractAsyncContextManager[None]:
        """Hold the advisory lock named by ``parts`` (and its connection) for the block."""
        return self._locks.hold(*parts)

    # -- calls -----------------------------------------------------------------------------

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` (autocommit statements); retried once on a broken connection."""
        return self._run(work, write=False)

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction; retried once only if it certainly did not commit."""
        return self._run(work, write=True)

    def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        held = held_by(self)
        if held is not None:
            with held.guard:
                try:
                    return _attempt(held.conn, work, write)
                except _Failed as failed:
                    raise self._error(failed, write, in_turn=True) from failed.cause
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    return _attempt(conn, work, write)
            except _Failed as failed:
                if attempt == 1 and failed.retryable(write):
                    # Every idle connection may have died with the server: replace them all.
                    self._pool.check()
                    continue
                raise self._error(failed, write, in_turn=False) from failed.cause
            except PoolTimeout as exc:
                raise self._unreachable() from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, failed: _Failed, write: bool, *, in_turn: bool) -> StoreError:
        where = self.target.shown
        if failed.conn.broken:
            if write and failed.committing:
                return StoreError(
                    f"lost the connection to PostgreSQL at {where} while committing; the"
                    f" change may or may not have been saved ({first_line(failed.cause)})"
                )
            if in_turn:
                return StoreError(
                    f"lost the connection to PostgreSQL at {where} during the turn, and with"
                    f" it the session's lock; nothing of the turn was saved"
                    f" ({first_line(failed.cause)})"
                )
            return StoreError(f"cannot reach PostgreSQL at {where}: {first_line(failed.cause)}")
        verb = "write" if write else "read"
        return StoreError(f"cannot {verb} PostgreSQL at {where}: {first_line(failed.cause)}")

    def _unreachable(self) -> StoreError:
        return StoreError(
            f"cannot reach PostgreSQL at {self.target.shown}: no working connection within"
            f" {POOL_TIMEOUT:g}s (is the server up? are all {self.target.pool_size} pooled"
            " connections busy? see MEMCHAT_PG_POOL_SIZE)"
        )


def _attempt(conn: Connection, work: Callable[[Connection], T], write: bool) -> T:
    """Run ``work`` on ``conn``, in a transaction when it writes."""
    committing = False
    try:
        if not write:
            return work(conn)
        with conn.transaction():
            result = work(conn)
            # Leaving the block sends COMMIT; an error from here on may follow a commit.
            committing = True
        return result
    except psycopg.Error as exc:
        raise _Failed(exc, conn, committing) from exc
