"""The Store interface: users, sessions and turns, independent of the database.

``Store`` is every role of the contract (``contract/``: users, sessions, turns, memory,
search), plus what spans them. The public methods check and normalize their arguments
(``checks.py``), then call the backend's hooks; the records they return are in
``records.py``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Self

from ..errors import SessionExists
from .branches import BranchesRole
from .checks import (
    check_limit,
    check_name,
    check_records,
    clean_records,
    clean_text,
    keep_an_admin,
)
from .contract.memory import MemoryRole
from .contract.projects import ProjectsRole
from .contract.search import SearchRole
from .contract.sessions import SessionsRole
from .contract.turns import TurnsRole
from .contract.usage import UsageRole
from .contract.users import UsersRole
from .items import (
    call_id_of_call,
    call_id_of_output,
    drop_orphan_outputs,
    group_into_turns,
    is_user_message,
)
from .quotas import Quotas
from .records import (
    MAX_QUERY_WORDS,
    BranchInfo,
    BranchRecord,
    Fact,
    FactRecord,
    FactSource,
    FactVersion,
    IndexedMessage,
    Item,
    Position,
    Project,
    PruneReport,
    SearchHit,
    SessionInfo,
    SessionRecord,
    Summary,
    Turn,
    User,
    now,
    query_words,
)

if TYPE_CHECKING:
    from .session import MemchatSession

# The records and checks, re-exported: ``from memchat.store.base import SessionInfo`` works.
__all__ = [
    "MAX_QUERY_WORDS",
    "BranchInfo",
    "BranchRecord",
    "Fact",
    "FactRecord",
    "FactSource",
    "FactVersion",
    "IndexedMessage",
    "Item",
    "Position",
    "Project",
    "PruneReport",
    "SearchHit",
    "SessionInfo",
    "SessionRecord",
    "Store",
    "Summary",
    "Turn",
    "User",
    "call_id_of_call",
    "call_id_of_output",
    "check_limit",
    "check_name",
    "check_records",
    "clean_records",
    "clean_text",
    "drop_orphan_outputs",
    "group_into_turns",
    "is_user_message",
    "keep_an_admin",
    "now",
    "query_words",
]


class Store(
    UsersRole,
    SessionsRole,
    ProjectsRole,
    TurnsRole,
    BranchesRole,
    MemoryRole,
    SearchRole,
    UsageRole,
):
    """Durable conversations: users, sessions and their turns.

    Implementations are synchronous and cheap per call; the async SDK adapter
    (:class:`memchat.store.session.MemchatSession`) sits on top.
    """

    location: str
    # Per-user caps on sessions and facts, checked by every method that adds them.
    quotas: Quotas = Quotas()

    @abstractmethod
    def prune(
        self, older_than: str, *, user: str | None = None, facts: bool = False
    ) -> PruneReport:
        """Delete turns (and with ``facts``, facts) last touched before ``older_than``.

        Sessions left without turns are deleted, and so are summaries of sessions that
        lost turns (they would otherwise keep what was pruned). All in one transaction.
        """

    @abstractmethod
    def vacuum(self) -> None:
        """Rewrite the database so that deleted content is gone from the file too."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's connections."""

    # -- derived helpers -----------------------------------------------------------------

    def ensure_session(self, user: str, session_id: str) -> SessionInfo:
        """Return the session, creating it (and its user) if needed."""
        self.ensure_user(user)
        found = self.find_session(user, session_id)
        if found is not None:
            return found
        try:
            return self.create_session(user, session_id)
        except SessionExists:
            # Another process created it between the two calls: that one is ours too.
            return self.get_session(user, session_id)

    def open_session(
        self,
        user: str,
        session_id: str | None = None,
        *,
        new: bool = False,
        project: str | None = None,
    ) -> SessionInfo:
        """The session a user chats in: a new one, a named one, or their current one.

        Without ``session_id`` and ``new`` the user continues their current session (the
        last one they used), so two one-shot ``ask`` calls in a row are one conversation.
        With ``project`` ("": none) it is a session of that project: a new one is made in
        it, a named one is moved to it, and otherwise the current session if it is in it,
        else the project's most recent, else a new one. The chosen session becomes the
        user's current one.
        """
        current = self.ensure_user(user).current_session
        if new:
            session = self.create_session(user, session_id, project=project or "")
        elif session_id is not None:
            session = self.get_session(user, session_id)
            if project is not None and session.project != project:
                session = self.set_session_project(user, session_id, project)
        else:
            found = self.find_session(user, current) if current else None
            if found is not None and project is not None and found.project != project:
                found = None
            if found is None:
                recent = self.list_sessions(user, limit=1, project=project)
                found = recent[0] if recent else self.create_session(user, project=project or "")
            session = found
        if current != session.id:
            self.set_current_session(user, session.id)
        return session

    def session(self, user: str, session_id: str = "default") -> MemchatSession:
        """An Agents SDK ``Session`` for the user's session, created if needed."""
        from .session import MemchatSession

        return MemchatSession(self, self.ensure_session(user, session_id))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
