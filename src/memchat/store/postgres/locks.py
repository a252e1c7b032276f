"""The PostgreSQL store's per-session turn locks: advisory locks held on a connection.

A turn holds its session's lock from reading the history to committing the reply, which
includes the model call (see ``pool.py`` for why on a connection of its own). The lock is
a session-level ``pg_advisory_lock`` on a connection taken from the turns' pool; while the
turn lasts, a context variable hands that connection to every store call the turn makes.
Waits for a connection and for a lock happen in worker threads, so the event loop never
blocks on them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import StoreError
from .schema import lock_key

Connection = psycopg.Connection[tuple[Any, ...]]

# How long a call waits for a free connection before it reports the server unreachable.
POOL_TIMEOUT = 30.0


@dataclass
class Held:
    """A turn's connection, holding its session's advisory lock."""

    owner: object
    conn: Connection
    # A turn's calls are sequential, but a thread started inside the turn inherits it;
    # this keeps two of them from running statements into each other's transaction.
    guard: threading.Lock


# A context variable, so every call made inside a turn's block (and in tasks it starts)
# finds the turn's connection; calls from elsewhere use the pool.
_held: ContextVar[Held | None] = ContextVar("memchat_pg_turn", default=None)


def held_by(owner: object) -> Held | None:
    """The connection of the turn this code runs in, if ``owner`` (a Database) holds it."""
    held = _held.get()
    return held if held is not None and held.owner is owner else None


class TurnLocks:
    """Advisory locks of one schema, each held on a connection of ``pool``."""

    def __init__(
        self,
        owner: object,
        pool: ConnectionPool[Connection],
        *,
        schema: str,
        shown: str,
        size: int,
        unreachable: Callable[[], StoreError],
    ) -> None:
        self.owner = owner
        self.schema = schema
        self.shown = shown
        self.unreachable = unreachable
        self._turns = pool
        # Threads that wait so that the event loop does not: for a turn connection, and for
        # a session's lock. Separate, so waits of one kind never queue behind the other's.
        self._checkouts = ThreadPoolExecutor(size, thread_name_prefix="memchat-pg-checkout")
        self._lock_waits = ThreadPoolExecutor(size, thread_name_prefix="memchat-pg-lock")

    def close(self) -> None:
        """Stop the waiting threads (the pool is closed by its owner)."""
        for executor in (self._checkouts, self._lock_waits):
            executor.shutdown(wait=False, cancel_futures=True)

    @asynccontextmanager
    async def hold(self, *parts: str) -> AsyncIterator[None]:
        """Hold the advisory lock named by ``parts`` (and its connection) for the block."""
        key = lock_key(self.schema, *parts)
        conn = await self._locked_connection(key)
        token = _held.set(Held(self.owner, conn, threading.Lock()))
        try:
            yield
        finally:
            try:
                self._release(conn, key)
            finally:
                # A turn closed from another context (an async generator finalized as its
                # event loop shuts down, after Ctrl-C) cannot reset the token there: that
                # context is being dropped, and the lock is released all the same.
                with suppress(ValueError):
                    _held.reset(token)

    async def _locked_connection(self, key: int) -> Connection:
        """A pooled connection holding lock ``key``; waits without blocking the event loop."""
        for attempt in (1, 2):
            conn = await self._checkout()
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if not (row and row[0]):
                    await self._wait_for_lock(conn, key)
                return conn
            except psycopg.Error as exc:
                broken = conn.broken
                self._turns.putconn(conn)
                if attempt == 1 and broken:
                    # The lock went with the broken connection, so asking again is safe.
                    self._turns.check()
                    continue
                raise StoreError(
                    f"cannot lock a session on PostgreSQL at {self.shown}: {first_line(exc)}"
                ) from exc
            except BaseException:
                self._release(conn, key)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _checkout(self) -> Connection:
        """A connection from the pool: at once if one is idle, else waited for in a thread.

        Waiting in the event loop's thread could deadlock: the connections it waits for
        belong to turns that need this same loop to finish.
        """
        try:
            return self._turns.getconn(timeout=1e-4)
        except PoolTimeout:
            pass
        waiting = self._checkouts.submit(self._turns.getconn)
        try:
            return await asyncio.wrap_future(waiting)
        except asyncio.CancelledError:
            # The thread may still be handed a connection: it goes back when it is.
            waiting.add_done_callback(self._give_back)
            raise
        except PoolTimeout as exc:
            raise self.unreachable() from exc

    def _give_back(self, done: Future[Connection]) -> None:
        """Return the connection a cancelled checkout got after all, if it got one."""
        if not done.cancelled() and done.exception() is None:
            self._turns.putconn(done.result())

    async def _wait_for_lock(self, conn: Connection, key: int) -> None:
        """Block in ``pg_advisory_lock`` in a worker thread; cancellable."""
        waiting = self._lock_waits.submit(conn.execute, "SELECT pg_advisory_lock(%s)", (key,))
        try:
            await asyncio.wrap_future(waiting)
        except asyncio.CancelledError:
            # The thread is still blocked on the server: cancel the query there, then let
            # the caller release whatever the thread ended up holding.
            if not waiting.cancel():
                conn.cancel_safe()
                with suppress(psycopg.Error, FutureCancelled, TimeoutError):
                    waiting.result(timeout=POOL_TIMEOUT)
            raise

    def _release(self, conn: Connection, key: int) -> None:
        """Unlock ``key`` and return the connection to the pool."""
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except psycopg.Error:
            # A connection that may still hold the lock must never go back to the pool:
            # closing it makes the server release every lock it held.
            conn.close()
        self._turns.putconn(conn)


def turn_lock_parts(user: str, session_id: str) -> tuple[str, ...]:
    """What names a session's turn lock (``lock_key``'s parts after the schema)."""
    return ("turn", user, session_id)


def lock_turns(conn: Connection, schema: str, sessions: Iterable[tuple[str, str]]) -> None:
    """Hold the turn locks of ``sessions`` (user, session id) until the transaction on
    ``conn`` ends, first waiting for any turn that holds one to end.

    A transaction-level advisory lock excludes a turn's session-level one of the same
    key. They are taken in key order, so two transactions taking several cannot each
    hold one the other waits for; a turn only ever holds one.
    """
    keys = {lock_key(schema, *turn_lock_parts(user, key)) for user, key in sessions}
    for key in sorted(keys):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
