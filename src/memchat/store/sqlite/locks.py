"""Per-session turn locks that hold across tasks, threads and processes.

A turn holds its session's lock from reading the history to committing the reply, so two
processes chatting in one session take turns instead of interleaving. The lock is an
``flock`` on a small file beside the database: the kernel releases it when its holder
dies, so a crashed process never leaves a session locked.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from ...errors import StoreError

# How long to sleep between attempts; waiting by polling keeps the wait cancellable
# (a thread blocked in flock() could not be interrupted by Ctrl-C).
_POLL_FIRST = 0.001
_POLL_MAX = 0.02


class FileTurnLocks:
    """Turn locks as ``flock``-ed files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._paths: dict[str, str] = {}

    def path_for(self, key: str) -> str:
        """The lock file of ``key``; hashed so any session id makes a safe file name."""
        path = self._paths.get(key)
        if path is None:
            if not self._paths:
                try:
                    self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                except OSError as exc:
                    raise StoreError(f"cannot create {self.directory}: {exc.strerror}") from exc
            digest = hashlib.sha256(key.encode()).hexdigest()[:32]
            path = self._paths[key] = str(self.directory / f"{digest}.lock")
        return path

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the block."""
        # flock() locks belong to an open file description, so every holder opens the
        # file itself: two holders in one process exclude each other as two processes do.
        fd = _open_lock_file(self.path_for(key))
        try:
            for delay in _waits():
                if _locked(fd):
                    break
                await asyncio.sleep(delay)
            yield
        finally:
            # Closing the descriptor releases the lock.
            os.close(fd)

    @contextmanager
    def hold_all(self, keys: Iterable[str]) -> Iterator[None]:
        """Hold the locks of ``keys`` for the block, this thread waiting until each is free.

        For a caller outside the event loop (an import). They are taken in one order, so
        two callers taking several cannot each hold one the other waits for; a turn only
        ever holds one.
        """
        held: list[int] = []
        try:
            for path in sorted({self.path_for(key) for key in keys}):
                held.append(_open_lock_file(path))
                for delay in _waits():
                    if _locked(held[-1]):
                        break
                    time.sleep(delay)
            yield
        finally:
            for fd in held:
                os.close(fd)


def turn_lock_key(user: str, session_id: str) -> str:
    """The name of a session's turn lock."""
    return f"{user}/{session_id}"


def _locked(fd: int) -> bool:
    """Take the lock of the open file ``fd`` if it is free; whether it was."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _waits() -> Iterator[float]:
    """How long to sleep between attempts, doubling up to _POLL_MAX."""
    delay = _POLL_FIRST
    while True:
        yield delay
        delay = min(delay * 2, _POLL_MAX)


def _open_lock_file(path: str) -> int:
    """Open (creating) a lock file; read-only where we may not write it (flock works)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise StoreError(f"cannot open the turn lock {path}: {exc.strerror}") from exc
    except OSError as exc:
        raise StoreError(f"cannot open the turn lock {path}: {exc.strerror}") from exc
