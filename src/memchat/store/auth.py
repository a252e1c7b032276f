"""The authentication tables, once for both backends: API token hashes, the admin role,
rate limits. SQL is written with ``?`` (``tree.run``); where PostgreSQL must lock rows
that SQLite's one writer already excludes, the statement ends ``FOR UPDATE`` there only.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import UserNotFound
from .checks import keep_an_admin
from .records import User, now
from .tokens import hash_token, new_token
from .tree import run

# last_used_at is refreshed at most this often: writing it on every request would cost
# every API call a durable transaction.
_TOUCH_EVERY = timedelta(hours=1)


def _locking(conn: Any, clause: str) -> str:
    """``clause`` on PostgreSQL; nothing on SQLite, where a write transaction (BEGIN
    IMMEDIATE) already excludes every other writer."""
    return "" if isinstance(conn, sqlite3.Connection) else clause


def admins(conn: Any) -> list[str]:
    """Every admin's name, their rows locked until the transaction ends: of two
    transactions removing an admin each, the second then sees the first's change."""
    statement = "SELECT name FROM users WHERE is_admin ORDER BY name"
    return [row[0] for row in run(conn, statement + _locking(conn, " FOR UPDATE"))]


class AuthMixin:
    """Tokens, admins and rate limits, mixed into either store (which provides ``_db``,
    its ``Database``: ``read`` and ``write`` run a function on a connection)."""

    _db: Any

    def _create_token(self, user: str) -> str:
        token = new_token()
        inserted = self._db.write(
            lambda conn: (
                run(
                    conn,
                    "INSERT INTO tokens (user_id, hash, created_at) SELECT id, ?, ? FROM users"
                    " WHERE name = ?",
                    (hash_token(token), now(), user),
                ).rowcount
            )
        )
        if not inserted:
            raise UserNotFound(f"no user {user!r}")
        return token

    def user_for_token(self, token: str) -> User | None:
        row = self._db.read(
            lambda conn: run(
                conn,
                "SELECT u.name, u.created_at, u.current_session, t.id, t.last_used_at"
                " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?",
                (hash_token(token),),
            ).fetchone()
        )
        if row is None:
            return None
        name, created_at, current, token_id, last_used = row
        stamp = now()
        stale = (datetime.now(UTC) - _TOUCH_EVERY).isoformat().replace("+00:00", "Z")
        if last_used is None or last_used < stale:
            self._db.write(
                lambda conn: run(
                    conn, "UPDATE tokens SET last_used_at = ? WHERE id = ?", (stamp, token_id)
                )
            )
        return User(name, created_at, current)

    def _revoke_tokens(self, user: str) -> int:
        def work(conn: Any) -> int:
            found = run(conn, "SELECT id FROM users WHERE name = ?", (user,)).fetchone()
            if found is None:
                raise UserNotFound(f"no user {user!r}")
            return int(run(conn, "DELETE FROM tokens WHERE user_id = ?", (found[0],)).rowcount)

        return int(self._db.write(work))

    def _set_admin(self, user: str, admin: bool) -> None:
        def work(conn: Any) -> int:
            if not admin:
                keep_an_admin(user, admins(conn))
            return int(
                run(conn, "UPDATE users SET is_admin = ? WHERE name = ?", (admin, user)).rowcount
            )

        if not self._db.write(work):
            raise UserNotFound(f"no user {user!r}")

    def _is_admin(self, user: str) -> bool:
        row = self._db.read(
            lambda conn: run(conn, "SELECT is_admin FROM users WHERE name = ?", (user,)).fetchone()
        )
        return bool(row and row[0])

    def _lock_rate(self, conn: Any, user: str) -> tuple[int, float | None] | None:
        # The user's row lock makes concurrent turns of one user take slots in turn.
        row = run(
            conn,
            "SELECT u.id, r.tat FROM users u LEFT JOIN rate_limits r ON r.user_id = u.id"
            " WHERE u.name = ?" + _locking(conn, " FOR UPDATE OF u"),
            (user,),
        ).fetchone()
        return None if row is None else (int(row[0]), row[1])

    def _save_rate(self, conn: Any, user_id: int, tat: float) -> None:
        run(
            conn,
            "INSERT INTO rate_limits (user_id, tat) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET tat = excluded.tat",
            (user_id, tat),
        )
