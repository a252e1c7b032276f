"""The PostgreSQL store's memory and access tables: facts, summaries, API tokens, admins.

With a cipher, fact values and summaries are sealed (see ``crypto.py``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ...errors import FactNotFound, UserNotFound
from ..base import (
    Fact,
    FactSource,
    FactVersion,
    Position,
    SessionInfo,
    Summary,
    User,
    keep_an_admin,
    now,
)
from ..codec import fact_from_row, summary_from_row
from ..crypto import Cipher, seal
from ..quotas import Kind, Quotas
from ..rates import RateLimit
from ..tokens import hash_token, new_token
from .provenance import forget_history, history_of, record_fact, sources_of, turn_item

if TYPE_CHECKING:
    from .pool import Connection, Database

_FACT = "id, key, value, source, updated_at, valid_from"

_COUNT = {kind: f"SELECT count(*) FROM {kind} WHERE user_id = %s" for kind in ("sessions", "facts")}


def locked_user(conn: Connection, user: str) -> int | None:
    """The user's row id, the row locked until the transaction ends (None: no such user).

    Whatever adds to a user's sessions or facts takes this lock first, so that two adds at
    once count one after the other against the user's quota.
    """
    row = conn.execute("SELECT id FROM users WHERE name = %s FOR UPDATE", (user,)).fetchone()
    return None if row is None else int(row[0])


def count_of(conn: Connection, kind: Kind, user_id: int) -> int:
    """How many sessions or facts the user of row ``user_id`` has (for ``Quotas.check``)."""
    row = conn.execute(_COUNT[kind], (user_id,)).fetchone()
    return int(row[0]) if row else 0


# last_used_at is refreshed at most this often: writing it on every request would cost
# every API call a durable transaction.
_TOUCH_EVERY = timedelta(hours=1)


def admins(conn: Connection) -> list[str]:
    """Every admin's name, their rows locked until the transaction ends: of two
    transactions removing an admin each, the second then sees the first's change."""
    rows = conn.execute("SELECT name FROM users WHERE is_admin ORDER BY name FOR UPDATE")
    return [row[0] for row in rows]


class PostgresMemoryMixin:
    """Facts, summaries, tokens and admins, mixed into :class:`PostgresStore`."""

    _db: Database
    cipher: Cipher | None
    quotas: Quotas

    # -- facts and summaries ---------------------------------------------------------------

    def _list_facts(self, user: str, limit: int | None, after: Position | None) -> list[Fact]:
        at, fact_id = after or (None, None)
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT f.id, f.key, f.value, f.source, f.updated_at, f.valid_from FROM facts f"
                " JOIN users u ON u.id = f.user_id WHERE u.name = %s"
                " AND (%s::text IS NULL OR (f.updated_at, f.id) < (%s, %s))"
                " ORDER BY f.updated_at DESC, f.id DESC LIMIT %s",
                (user, at, at, fact_id, limit),
            ).fetchall()
        )
        return [fact_from_row(row, self.cipher) for row in rows]

    def _set_fact(
        self,
        user: str,
        key: str,
        value: str,
        source: str,
        taught_by: tuple[SessionInfo, int] | None,
    ) -> Fact:
        stamp = now()

        def work(conn: Connection) -> Fact | None:
            user_id = locked_user(conn, user)
            if user_id is None:
                return None
            if not conn.execute(
                "SELECT 1 FROM facts WHERE user_id = %s AND key = %s", (user_id, key)
            ).fetchone():
                self.quotas.check("facts", user, count_of(conn, "facts", user_id) + 1)
            item_id = None
            if taught_by is not None:
                item_id = turn_item(conn, taught_by[0].pk, taught_by[1])
            return record_fact(conn, self.cipher, user_id, key, value, source, item_id, stamp)

        fact = self._db.write(work)
        if fact is None:
            raise UserNotFound(f"no user {user!r}")
        return fact

    def _fact_sources(self, user: str) -> dict[int, list[FactSource]]:
        return self._db.read(lambda conn: sources_of(conn, user))

    def _fact_history(self, user: str, key: str | None) -> list[FactVersion]:
        return self._db.read(lambda conn: history_of(conn, self.cipher, user, key))

    def _forget_fact(self, user: str, key_or_id: str) -> Fact:
        def work(conn: Connection) -> tuple[Any, ...] | None:
            row = conn.execute(
                # One fact: the one with that key, else the one with that id.
                "DELETE FROM facts WHERE id = (SELECT id FROM facts"
                " WHERE user_id = (SELECT id FROM users WHERE name = %s)"
                " AND (key = %s OR id::text = %s) ORDER BY key = %s DESC LIMIT 1)"
                f" RETURNING {_FACT}, user_id",
                (user, key_or_id, key_or_id, key_or_id),
            ).fetchone()
            if row is not None:
                forget_history(conn, row[-1], row[1])
            return row

        row = self._db.write(work)
        if row is None:
            raise FactNotFound(f"{user!r} has no fact {key_or_id!r} (see `memchat memory list`)")
        return fact_from_row(row[:-1], self.cipher)

    def _hide_from_recall(self, user: str, item_ids: list[int]) -> None:
        ids = [int(i) for i in item_ids]
        # Only the user's own items: an id of somebody else's is ignored.
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO recall_hidden (item_id) SELECT i.id FROM items i"
                " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
                " WHERE i.id = ANY(%s) AND u.name = %s ON CONFLICT (item_id) DO NOTHING",
                (ids, user),
            )
        )

    def _hidden_from_recall(self, user: str) -> set[int]:
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT h.item_id FROM recall_hidden h JOIN items i ON i.id = h.item_id"
                " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
                " WHERE u.name = %s",
                (user,),
            ).fetchall()
        )
        return {int(item_id) for (item_id,) in rows}

    def get_summary(self, session: SessionInfo) -> Summary | None:
        row = self._db.read(
            lambda conn: conn.execute(
                "SELECT through_seq, text, updated_at FROM summaries WHERE session_id = %s",
                (session.pk,),
            ).fetchone()
        )
        return None if row is None else summary_from_row(row, self.cipher)

    def set_summary(self, session: SessionInfo, through_seq: int, text: str) -> None:
        self._db.write(
            lambda conn: conn.execute(
                "INSERT INTO summaries (session_id, through_seq, text, updated_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET"
                " through_seq = excluded.through_seq, text = excluded.text,"
                " updated_at = excluded.updated_at",
                (session.pk, through_seq, seal(self.cipher, text), now()),
            )
        )

    # -- API tokens and admins -------------------------------------------------------------

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

    def _take_turn_slot(self, user: str, limit: RateLimit, now: float | None) -> float:
        moment = time.time() if now is None else now

        def work(conn: Any) -> float:
            # The user's row lock makes concurrent turns of one user take slots in turn.
            row = conn.execute(
                "SELECT u.id, r.tat FROM users u LEFT JOIN rate_limits r ON r.user_id = u.id"
                " WHERE u.name = %s FOR UPDATE OF u",
                (user,),
            ).fetchone()
            if row is None:
                raise UserNotFound(f"no user {user!r}")
            tat, wait = limit.take(row[1], moment)
            if tat is not None:
                conn.execute(
                    "INSERT INTO rate_limits (user_id, tat) VALUES (%s, %s)"
                    " ON CONFLICT (user_id) DO UPDATE SET tat = excluded.tat",
                    (row[0], tat),
                )
            return wait

        return float(self._db.write(work))

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
