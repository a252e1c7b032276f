"""The users role: who has sessions, their API tokens, the admin role and rate limits."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import UserNotFound
from ..checks import check_name
from ..rates import RateLimit
from ..records import User

T = TypeVar("T")


class UsersRole(ABC):
    """Users, their tokens (only hashes are stored), the admin role and turn slots."""

    @abstractmethod
    def _write(self, work: Callable[[Any], T]) -> T:
        """Run ``work(conn)`` in one transaction of the backend's database (its
        ``Database.write``: committed if it returns, rolled back if it raises, run again
        if the database refused it for a reason a second attempt can fix)."""

    def ensure_user(self, name: str) -> User:
        """Return the user, creating it if needed."""
        return self._ensure_user(check_name("user name", name))

    def get_user(self, name: str) -> User:
        """Return the user or raise UserNotFound."""
        return self._get_user(check_name("user name", name))

    @abstractmethod
    def list_users(self) -> list[User]:
        """All users, by name."""

    def delete_user(self, name: str) -> None:
        """Delete a user and everything that belongs to them."""
        self._delete_user(check_name("user name", name))

    def set_current_session(self, user: str, session_id: str) -> None:
        """Remember which session the user continues by default."""
        self._set_current_session(
            check_name("user name", user), check_name("session id", session_id)
        )

    @abstractmethod
    def _ensure_user(self, name: str) -> User: ...

    @abstractmethod
    def _get_user(self, name: str) -> User: ...

    @abstractmethod
    def _delete_user(self, name: str) -> None: ...

    @abstractmethod
    def _set_current_session(self, user: str, session_id: str) -> None: ...

    # -- authentication: API tokens and the admin role -------------------------------------
    # Tokens come from memchat.store.tokens (new_token, hash_token); only hashes are stored.

    def create_token(self, user: str) -> str:
        """Issue a new API token for an existing user and return it (raise UserNotFound)."""
        return self._create_token(check_name("user name", user))

    @abstractmethod
    def user_for_token(self, token: str) -> User | None:
        """The user a token belongs to, or None if the token is unknown or revoked."""

    def revoke_tokens(self, user: str) -> int:
        """Revoke every token of the user and return how many there were."""
        return self._revoke_tokens(check_name("user name", user))

    def set_admin(self, user: str, admin: bool) -> None:
        """Grant or withdraw the admin role (user management over HTTP)."""
        self._set_admin(check_name("user name", user), bool(admin))

    def is_admin(self, user: str) -> bool:
        """True if the user has the admin role (False for an unknown user)."""
        return self._is_admin(check_name("user name", user))

    @abstractmethod
    def _create_token(self, user: str) -> str: ...

    @abstractmethod
    def _revoke_tokens(self, user: str) -> int: ...

    @abstractmethod
    def _set_admin(self, user: str, admin: bool) -> None: ...

    @abstractmethod
    def _is_admin(self, user: str) -> bool: ...

    # -- rate limits -----------------------------------------------------------------------

    def take_turn_slot(self, user: str, limit: RateLimit, now: float | None = None) -> float:
        """Count one model turn of ``user`` against ``limit`` (``rates.py``): 0.0 if it may
        go ahead, else the seconds until one may (and nothing is counted). ``now`` is
        seconds since the epoch (the clock, if not given). Raise UserNotFound."""
        name = check_name("user name", user)
        moment = time.time() if now is None else now

        def work(conn: Any) -> float:
            found = self._lock_rate(conn, name)
            if found is None:
                raise UserNotFound(f"no user {name!r}")
            user_id, tat = found
            new_tat, wait = limit.take(tat, moment)
            if new_tat is not None:
                self._save_rate(conn, user_id, new_tat)
            return wait

        return float(self._write(work))

    @abstractmethod
    def _lock_rate(self, conn: Any, user: str) -> tuple[int, float | None] | None:
        """The user's row id and rate state (None: none yet), with the user locked until
        the transaction ends, so that concurrent turns of one user take slots in turn;
        None if there is no such user."""

    @abstractmethod
    def _save_rate(self, conn: Any, user_id: int, tat: float) -> None:
        """Record the user's new rate state."""
