"""The SQLite store's authentication tables: API token hashes and the admin role."""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ...errors import UserNotFound
from ..base import User, keep_an_admin, now
from ..rates import RateLimit
from ..tokens import hash_token, new_token

# last_used_at is refreshed at most this often: writing it on every request would cost
# every API call a durable transaction.
_TOUCH_EVERY = timedelta(hours=1)


def admins(conn: sqlite3.Connection) -> list[str]:
    """Every admin's name (read in a write transaction, which no other can interleave)."""
    return [row[0] for row in conn.execute("SELECT name FROM users WHERE is_admin ORDER BY name")]


class SQLiteAuthMixin:
    """Tokens and admins, mixed into :class:`SQLiteStore` (which provides the plumbing)."""

    if TYPE_CHECKING:

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _create_token(self, user: str) -> str:
        token = new_token()
        with self._write() as conn:
            inserted = conn.execute(
                "INSERT INTO tokens (user_id, hash, created_at) SELECT id, ?, ? FROM users"
                " WHERE name = ?",
                (hash_token(token), now(), user),
            ).rowcount
        if not inserted:
            raise UserNotFound(f"no user {user!r}")
        return token

    def user_for_token(self, token: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT u.name, u.created_at, u.current_session, t.id, t.last_used_at"
                " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                (hash_token(token),),
            ).fetchone()
        if row is None:
            return None
        name, created_at, current, token_id, last_used = row
        stamp = now()
        stale = (datetime.now(UTC) - _TOUCH_EVERY).isoformat().replace("+00:00", "Z")
        if last_used is None or last_used < stale:
            with self._write() as conn:
                conn.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (stamp, token_id))
        return User(name, created_at, current)

    def _revoke_tokens(self, user: str) -> int:
        with self._write() as conn:
            found = conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
            if found is None:
                raise UserNotFound(f"no user {user!r}")
            return conn.execute("DELETE FROM tokens WHERE user_id = ?", (found[0],)).rowcount

    def _set_admin(self, user: str, admin: bool) -> None:
        with self._write() as conn:
            if not admin:
                keep_an_admin(user, admins(conn))
            changed = conn.execute(
                "UPDATE users SET is_admin = ? WHERE name = ?", (int(admin), user)
            ).rowcount
        if not changed:
            raise UserNotFound(f"no user {user!r}")

    def _is_admin(self, user: str) -> bool:
        with self._read() as conn:
            row = conn.execute("SELECT is_admin FROM users WHERE name = ?", (user,)).fetchone()
        return bool(row and row[0])

    def _take_turn_slot(self, user: str, limit: RateLimit, now: float | None) -> float:
        moment = time.time() if now is None else now
        with self._write() as conn:
            row = conn.execute(
                "SELECT u.id, r.tat FROM users u LEFT JOIN rate_limits r ON r.user_id = u.id"
                " WHERE u.name = ?",
                (user,),
            ).fetchone()
            if row is None:
                raise UserNotFound(f"no user {user!r}")
            tat, wait = limit.take(row[1], moment)
            if tat is not None:
                conn.execute(
                    "INSERT INTO rate_limits (user_id, tat) VALUES (?, ?)"
                    " ON CONFLICT (user_id) DO UPDATE SET tat = excluded.tat",
                    (row[0], tat),
                )
        return wait
