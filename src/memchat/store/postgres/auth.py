"""The PostgreSQL store's authentication tables: API token hashes, the admin role, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...errors import UserNotFound
from ..checks import keep_an_admin
from ..records import User, now
from ..tokens import hash_token, new_token

if TYPE_CHECKING:
    from .pool import Connection, Database

# last_used_at is refreshed at most this often: writing it on every request would cost
# every API call a durable transaction.
_TOUCH_EVERY = timedelta(hours=1)


def admins(conn: Connection) -> list[str]:
    """Every admin's name, their rows locked until the transaction ends: of two
    transactions removing an admin each, the second then sees the first's change."""
    rows = conn.execute("SELECT name FROM users WHERE is_admin ORDER BY name FOR UPDATE")
    return [row[0] for row in rows]


class PostgresAuthMixin:
    """Tokens, admins and rate limits, mixed into :class:`PostgresStore` (which provides
    ``_db``)."""

    _db: Database

    def _create_token(self, user: str) -> str:
        token = new_token()
        inserted = self._db.write(
            lambda conn: (
                conn.execute(
                    "INSERT INTO tokens (user_id, hash, created_at) SELECT id, %s, %s FROM users"
                    " WHERE name = %s",
                    (hash_token(token), now(), user),
                ).rowcount
            )
        )
        if not inserted:
            raise UserNotFound(f"no user {user!r}")
        return token

    def user_for_token(self, token: str) -> User | None:
        row = self._db.read(
            lambda conn: conn.execute(
                "SELECT u.name, u.created_at, u.current_session, t.id, t.last_used_at"
                " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = %s",
                (hash_token(token),),
            ).fetchone()
        )
        if row is None:
            return None
        name, created_at, current, token_id, last_used = row
        stale = (datetime.now(UTC) - _TOUCH_EVERY).isoformat().replace("+00:00", "Z")
        if last_used is None or last_used < stale:
            self._db.write(
                lambda conn: conn.execute(
                    "UPDATE tokens SET last_used_at = %s WHERE id = %s", (now(), token_id)
                )
            )
        return User(name, created_at, current)

    def _revoke_tokens(self, user: str) -> int:
        def work(conn: Connection) -> int:
            found = conn.execute("SELECT id FROM users WHERE name = %s", (user,)).fetchone()
            if found is None:
                raise UserNotFound(f"no user {user!r}")
            return conn.execute("DELETE FROM tokens WHERE user_id = %s", (found[0],)).rowcount

        return self._db.write(work)

    def _set_admin(self, user: str, admin: bool) -> None:
        def work(conn: Connection) -> int:
            if not admin:
                keep_an_admin(user, admins(conn))
            return conn.execute(
                "UPDATE users SET is_admin = %s WHERE name = %s", (admin, user)
            ).rowcount

        if not self._db.write(work):
            raise UserNotFound(f"no user {user!r}")

    def _is_admin(self, user: str) -> bool:
        row: tuple[Any, ...] | None = self._db.read(
            lambda conn: conn.execute(
                "SELECT is_admin FROM users WHERE name = %s", (user,)
            ).fetchone()
        )
        return bool(row and row[0])

    def _lock_rate(self, conn: Connection, user: str) -> tuple[int, float | None] | None:
        # The user's row lock makes concurrent turns of one user take slots in turn.
        row = conn.execute(
            "SELECT u.id, r.tat FROM users u LEFT JOIN rate_limits r ON r.user_id = u.id"
            " WHERE u.name = %s FOR UPDATE OF u",
            (user,),
        ).fetchone()
        return None if row is None else (int(row[0]), row[1])

    def _save_rate(self, conn: Connection, user_id: int, tat: float) -> None:
        conn.execute(
            "INSERT INTO rate_limits (user_id, tat) VALUES (%s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET tat = excluded.tat",
            (user_id, tat),
        )
