"""The sessions role: a user's conversations, created, found, listed, renamed, deleted."""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from typing import Any

from ...errors import SessionNotFound
from ..checks import check_limit, check_name, check_project, clean_text
from ..records import Position, SessionInfo, now


class SessionsRole(ABC):
    """Sessions of a user, by id (``check_name``'s rules) or a fresh random one."""

    def create_session(
        self,
        user: str,
        session_id: str | None = None,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        created_at: str | None = None,
        project: str = "",
    ) -> SessionInfo:
        """Create a session (a fresh id when none is given); raise SessionExists if taken.

        An empty ``session_id`` is an invalid one (InvalidName), not "none given". A
        ``project`` the user has no session in yet is made (its memory shared).
        """
        check_name("user name", user)
        key = secrets.token_hex(4) if session_id is None else check_name("session id", session_id)
        return self._create_session(
            user,
            key,
            title=None if title is None else clean_text(title),
            metadata=dict(metadata or {}),
            created_at=created_at or now(),
            project=check_project(project) or "",
        )

    def find_session(self, user: str, session_id: str) -> SessionInfo | None:
        """Return the session, or None if the user has no such session."""
        return self._find_session(
            check_name("user name", user), check_name("session id", session_id)
        )

    def get_session(self, user: str, session_id: str) -> SessionInfo:
        """Return the session or raise SessionNotFound."""
        found = self.find_session(user, session_id)
        if found is None:
            raise SessionNotFound(f"user {user!r} has no session {session_id!r}")
        return found

    def list_sessions(
        self,
        user: str,
        *,
        limit: int | None = None,
        after: Position | None = None,
        project: str | None = None,
    ) -> list[SessionInfo]:
        """The user's sessions, most recently updated first: at most ``limit`` of them,
        and with ``after`` (a session's ``position``) only those that come after it; with
        ``project``, only that project's ("": those in none)."""
        return self._list_sessions(
            check_name("user name", user), check_limit(limit), after, check_project(project)
        )

    def rename_session(self, user: str, session_id: str, title: str) -> SessionInfo:
        """Set a session's title (NUL characters dropped, as ``clean_text`` says)."""
        check_name("user name", user)
        check_name("session id", session_id)
        return self._rename_session(user, session_id, clean_text(title))

    def delete_session(self, user: str, session_id: str) -> None:
        """Delete a session and its turns."""
        self._delete_session(check_name("user name", user), check_name("session id", session_id))

    @abstractmethod
    def clear_session(self, session: SessionInfo) -> None:
        """Delete every turn of a session, keeping the session itself."""

    @abstractmethod
    def _create_session(
        self,
        user: str,
        key: str,
        *,
        title: str | None,
        metadata: dict[str, Any],
        created_at: str,
        project: str,
    ) -> SessionInfo: ...

    @abstractmethod
    def _find_session(self, user: str, session_id: str) -> SessionInfo | None: ...

    @abstractmethod
    def _list_sessions(
        self, user: str, limit: int | None, after: Position | None, project: str | None
    ) -> list[SessionInfo]: ...

    @abstractmethod
    def _rename_session(self, user: str, session_id: str, title: str) -> SessionInfo: ...

    @abstractmethod
    def _delete_session(self, user: str, session_id: str) -> None: ...
