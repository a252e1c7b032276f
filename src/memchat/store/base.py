"""The Store interface: users, sessions and turns, independent of the database.

A turn is committed in one transaction, so readers see all of it or none of it. The
public methods check and normalize their arguments (``checks.py``), then call the
backend's hooks; the records they return are in ``records.py``.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ..errors import SessionExists, SessionNotFound
from .checks import (
    check_limit,
    check_name,
    check_records,
    clean_records,
    clean_text,
    hidden_ids,
    keep_an_admin,
)
from .quotas import Quotas
from .rates import RateLimit
from .records import (
    MAX_QUERY_WORDS,
    Fact,
    FactRecord,
    IndexedMessage,
    Item,
    Position,
    PruneReport,
    SearchHit,
    SessionInfo,
    SessionRecord,
    Summary,
    Turn,
    User,
    call_id_of_call,
    call_id_of_output,
    drop_orphan_outputs,
    group_into_turns,
    is_user_message,
    now,
    query_words,
)
from .usage import TurnUsage, UsageRole

if TYPE_CHECKING:
    from .session import MemchatSession

# The records and checks, re-exported: ``from memchat.store.base import SessionInfo`` works.
__all__ = [
    "MAX_QUERY_WORDS",
    "Fact",
    "FactRecord",
    "IndexedMessage",
    "Item",
    "Position",
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
    "hidden_ids",
    "is_user_message",
    "keep_an_admin",
    "now",
    "query_words",
]


class Store(UsageRole, ABC):
    """Durable conversations: users, sessions and their turns.

    Implementations are synchronous and cheap per call; the async SDK adapter
    (:class:`memchat.store.session.MemchatSession`) sits on top.
    """

    location: str
    # Per-user caps on sessions and facts, checked by every method that adds them.
    quotas: Quotas = Quotas()

    # The public methods below check and normalize their arguments once, here, then call
    # the backend's hook of the same name with a leading underscore: a backend cannot
    # drift on what a valid name, session id, limit or stored text is.

    # -- users ---------------------------------------------------------------------------

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

    def take_turn_slot(self, user: str, limit: RateLimit, now: float | None = None) -> float:
        """Count one model turn of ``user`` against ``limit`` (``rates.py``): 0.0 if it may
        go ahead, else the seconds until one may (and nothing is counted). ``now`` is
        seconds since the epoch (the clock, if not given). Raise UserNotFound."""
        return self._take_turn_slot(check_name("user name", user), limit, now)

    @abstractmethod
    def _create_token(self, user: str) -> str: ...

    @abstractmethod
    def _revoke_tokens(self, user: str) -> int: ...

    @abstractmethod
    def _set_admin(self, user: str, admin: bool) -> None: ...

    @abstractmethod
    def _is_admin(self, user: str) -> bool: ...

    @abstractmethod
    def _take_turn_slot(self, user: str, limit: RateLimit, now: float | None) -> float: ...

    # -- sessions ------------------------------------------------------------------------

    def create_session(
        self,
        user: str,
        session_id: str | None = None,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        created_at: str | None = None,
    ) -> SessionInfo:
        """Create a session (a fresh id when none is given); raise SessionExists if taken.

        An empty ``session_id`` is an invalid one (InvalidName), not "none given".
        """
        check_name("user name", user)
        key = secrets.token_hex(4) if session_id is None else check_name("session id", session_id)
        return self._create_session(
            user,
            key,
            title=None if title is None else clean_text(title),
            metadata=dict(metadata or {}),
            created_at=created_at or now(),
        )

    def find_session(self, user: str, session_id: str) -> SessionInfo | None:
        """Return the session, or None if the user has no such session."""
        return self._find_session(
            check_name("user name", user), check_name("session id", session_id)
        )

    def list_sessions(
        self, user: str, *, limit: int | None = None, after: Position | None = None
    ) -> list[SessionInfo]:
        """The user's sessions, most recently updated first: at most ``limit`` of them,
        and with ``after`` (a session's ``position``) only those that come after it."""
        return self._list_sessions(check_name("user name", user), check_limit(limit), after)

    def rename_session(self, user: str, session_id: str, title: str) -> SessionInfo:
        """Set a session's title (NUL characters dropped, as ``clean_text`` says)."""
        check_name("user name", user)
        check_name("session id", session_id)
        return self._rename_session(user, session_id, clean_text(title))

    def delete_session(self, user: str, session_id: str) -> None:
        """Delete a session and its turns."""
        self._delete_session(check_name("user name", user), check_name("session id", session_id))

    @abstractmethod
    def _create_session(
        self, user: str, key: str, *, title: str | None, metadata: dict[str, Any], created_at: str
    ) -> SessionInfo: ...

    @abstractmethod
    def _find_session(self, user: str, session_id: str) -> SessionInfo | None: ...

    @abstractmethod
    def _list_sessions(
        self, user: str, limit: int | None, after: Position | None
    ) -> list[SessionInfo]: ...

    @abstractmethod
    def _rename_session(self, user: str, session_id: str, title: str) -> SessionInfo: ...

    @abstractmethod
    def _delete_session(self, user: str, session_id: str) -> None: ...

    @abstractmethod
    def clear_session(self, session: SessionInfo) -> None:
        """Delete every turn of a session, keeping the session itself."""

    # -- items and turns -----------------------------------------------------------------

    @abstractmethod
    def get_items(self, session: SessionInfo, limit: int | None = None) -> list[Item]:
        """The session's items in order; with ``limit``, the latest ``limit`` of them."""

    @abstractmethod
    def turns_after(self, session: SessionInfo, after_seq: int, limit: int | None) -> list[Turn]:
        """Turns after ``after_seq``, oldest first, built from at most the newest ``limit`` items.

        With a limit the oldest turn returned may be cut short; ``recent_turns`` drops it.
        """

    def get_turns(self, session: SessionInfo) -> list[Turn]:
        """The session's turns in order."""
        return self.turns_after(session, 0, None)

    def list_turns(self, session: SessionInfo, *, after_seq: int = 0, limit: int) -> list[Turn]:
        """The first ``limit`` whole turns after ``after_seq``, oldest first (a page)."""
        return self._list_turns(session, after_seq, check_limit(limit) or 0)

    @abstractmethod
    def _list_turns(self, session: SessionInfo, after_seq: int, limit: int) -> list[Turn]: ...

    @abstractmethod
    def commit_turn(
        self,
        session: SessionInfo,
        items: Sequence[Item],
        *,
        replace_last: bool = False,
        created_at: str | None = None,
        usage: TurnUsage | None = None,
    ) -> int:
        """Store ``items`` as one new turn in one transaction and return its sequence number.

        With ``replace_last`` the session's last turn is deleted in the same transaction
        (a regenerated reply replaces the old one). ``usage`` (what the turn cost) is
        stored with it, in the same transaction.
        """

    @abstractmethod
    def append_to_last_turn(self, session: SessionInfo, items: Sequence[Item]) -> None:
        """Add items to the session's last turn (or a new turn if it has none)."""

    @abstractmethod
    def append_to_turn(self, session: SessionInfo, seq: int, items: Sequence[Item]) -> int:
        """Add items to the turn ``seq`` and return ``seq``; if that turn is gone (undone,
        cleared), store them as a new turn and return its sequence number.

        A plain ``Runner.run`` writes its steps this way, to the turn it started, whatever
        turns other runs have added since.
        """

    @abstractmethod
    def last_turn(self, session: SessionInfo) -> Turn | None:
        """The session's most recent turn, or None if it has none."""

    def import_sessions(
        self, records: Sequence[SessionRecord], facts: Sequence[FactRecord] = ()
    ) -> None:
        """Store whole sessions, their summaries and ``facts`` (creating their users) in one
        transaction.

        Raises SessionExists, and stores nothing, if any of the sessions is already there.
        A fact replaces a stored one of the same key only if it is newer.
        """
        self._import_sessions(*clean_records(records, facts))

    @abstractmethod
    def _import_sessions(
        self, records: Sequence[SessionRecord], facts: Sequence[FactRecord]
    ) -> None: ...

    def recent_turns(self, session: SessionInfo, after_seq: int, max_items: int) -> list[Turn]:
        """The latest whole turns after ``after_seq``, oldest first, at most ``max_items`` items.

        Reads only what it returns, so its cost does not grow with the session's length.
        """
        turns = self.turns_after(session, after_seq, max_items + 1)
        if sum(len(turn.items) for turn in turns) > max_items:
            # The limit may have cut the oldest turn: leave it out rather than half of it.
            turns = turns[1:]
        return turns

    # -- memory: facts and summaries -------------------------------------------------------

    def list_facts(
        self, user: str, *, limit: int | None = None, after: Position | None = None
    ) -> list[Fact]:
        """The user's facts, most recently updated first: at most ``limit`` of them, and
        with ``after`` (a fact's ``position``) only those that come after it."""
        return self._list_facts(check_name("user name", user), check_limit(limit), after)

    def set_fact(self, user: str, key: str, value: str, source: str) -> Fact:
        """Record a fact, replacing an older value for the same key (raise UserNotFound)."""
        check_name("user name", user)
        return self._set_fact(user, clean_text(key), clean_text(value), clean_text(source))

    def forget_fact(self, user: str, key_or_id: str) -> Fact:
        """Delete a fact by key or id and return it; raise FactNotFound if there is none."""
        return self._forget_fact(check_name("user name", user), clean_text(key_or_id))

    def hide_from_recall(self, user: str, item_ids: Sequence[int]) -> None:
        """Keep these messages of the user's out of recall (they stay in the history)."""
        self._hide_from_recall(check_name("user name", user), [int(i) for i in item_ids])

    def hidden_from_recall(self, user: str) -> set[int]:
        """The ids of the user's messages kept out of recall."""
        return self._hidden_from_recall(check_name("user name", user))

    @abstractmethod
    def _list_facts(self, user: str, limit: int | None, after: Position | None) -> list[Fact]: ...

    @abstractmethod
    def _set_fact(self, user: str, key: str, value: str, source: str) -> Fact: ...

    @abstractmethod
    def _forget_fact(self, user: str, key_or_id: str) -> Fact: ...

    @abstractmethod
    def _hide_from_recall(self, user: str, item_ids: list[int]) -> None: ...

    @abstractmethod
    def _hidden_from_recall(self, user: str) -> set[int]: ...

    @abstractmethod
    def get_summary(self, session: SessionInfo) -> Summary | None:
        """The session's running summary, or None."""

    @abstractmethod
    def set_summary(self, session: SessionInfo, through_seq: int, text: str) -> None:
        """Replace the session's running summary (the items themselves stay)."""

    @abstractmethod
    def pop_item(self, session: SessionInfo) -> Item | None:
        """Delete and return the session's most recent item."""

    @abstractmethod
    def pop_turn(self, session: SessionInfo) -> Turn | None:
        """Delete and return the session's most recent turn."""

    # -- search --------------------------------------------------------------------------

    @property
    def searchable(self) -> bool:
        """True if the store keeps a search index: False for an encrypted store without
        one (MEMCHAT_ENCRYPTED_SEARCH), whose search raises SearchUnavailable."""
        return True

    @abstractmethod
    def search(
        self,
        user: str,
        query: str,
        *,
        limit: int = 20,
        session_id: str | None = None,
        highlight: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        """The user's messages that match ``query``, best first (bm25), at most ``limit``.

        ``query`` is plain text, never query syntax: messages with all of its words are
        found, or, if none has them all, messages with any of them. Matched words in a
        hit's snippet are wrapped in ``highlight``. A query without words finds nothing.
        """

    @abstractmethod
    def match_messages(
        self,
        user: str,
        words: Sequence[str],
        *,
        limit: int,
        session_id: str | None = None,
        context_weights: tuple[float, float] = (0.5, 0.3),
        keep_rarest: bool = True,
    ) -> list[IndexedMessage]:
        """Messages containing any of ``words``, in their text or the two before them.

        Ranked by bm25 over the message's own text (weight 1) and the texts of the
        message before it and the one before that (``context_weights``); best first.
        A store may leave out words held by so many messages that ranking them all would
        be slow; ``keep_rarest`` searches for the rarest of them when that leaves none.
        """

    @abstractmethod
    def get_messages(self, user: str, item_ids: Sequence[int]) -> list[IndexedMessage]:
        """The user's indexed messages with these item ids (unknown ids are left out)."""

    @abstractmethod
    def messages_near(
        self, user: str, spans: Sequence[tuple[str, int, int]]
    ) -> list[IndexedMessage]:
        """The user's indexed messages in these spans of turns, in the order they were said.

        A span is (session id, first turn's seq, last turn's seq); spans may overlap, and
        each message is returned once. Recall reads the turns around what it found.
        """

    @abstractmethod
    def all_messages(
        self, user: str, *, limit: int, session_id: str | None = None
    ) -> list[IndexedMessage] | None:
        """Every indexed message of the user (or one session), in the order they were said,
        or None if the user has more than ``limit`` items: bounded whatever the history."""

    @abstractmethod
    def turn_lock(self, session: SessionInfo) -> AbstractAsyncContextManager[None]:
        """A lock that serializes turns of one session across tasks, threads and processes."""

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

    def get_session(self, user: str, session_id: str) -> SessionInfo:
        """Return the session or raise SessionNotFound."""
        found = self.find_session(user, session_id)
        if found is None:
            raise SessionNotFound(f"user {user!r} has no session {session_id!r}")
        return found

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
        self, user: str, session_id: str | None = None, *, new: bool = False
    ) -> SessionInfo:
        """The session a user chats in: a new one, a named one, or their current one.

        Without ``session_id`` and ``new`` the user continues their current session (the
        last one they used), so two one-shot ``ask`` calls in a row are one conversation.
        The chosen session becomes the user's current one.
        """
        current = self.ensure_user(user).current_session
        if new:
            session = self.create_session(user, session_id)
        elif session_id is not None:
            session = self.get_session(user, session_id)
        else:
            found = self.find_session(user, current) if current else None
            if found is None:
                recent = self.list_sessions(user)
                found = recent[0] if recent else self.create_session(user)
            session = found
        if current != session.id:
            self.set_current_session(user, session.id)
        return session

    def session(self, user: str, session_id: str = "default") -> MemchatSession:
        """An Agents SDK ``Session`` for the user's session, created if needed."""
        from .session import MemchatSession

        return MemchatSession(self, self.ensure_session(user, session_id))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
