"""The turns role: a session's items, committed a whole turn at a time, and imports."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from ..checks import check_limit, clean_records
from ..continuation import Continuation, check_continuations
from ..records import MAX_SEQ, FactRecord, Item, SessionInfo, SessionRecord, Turn
from ..usage import TurnUsage


class TurnsRole(ABC):
    """Items and turns. A turn is committed in one transaction, so readers see all of it
    or none of it."""

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
        if after_seq >= MAX_SEQ:
            return []  # no turn comes after a seq no store can hold
        return self._list_turns(session, after_seq, check_limit(limit) or 0)

    @abstractmethod
    def _list_turns(self, session: SessionInfo, after_seq: int, limit: int) -> list[Turn]: ...

    def recent_turns(self, session: SessionInfo, after_seq: int, max_items: int) -> list[Turn]:
        """The latest whole turns after ``after_seq``, oldest first, at most ``max_items`` items.

        Reads only what it returns, so its cost does not grow with the session's length.
        """
        turns = self.turns_after(session, after_seq, max_items + 1)
        if sum(len(turn.items) for turn in turns) > max_items:
            # The limit may have cut the oldest turn: leave it out rather than half of it.
            turns = turns[1:]
        return turns

    @abstractmethod
    def commit_turn(
        self,
        session: SessionInfo,
        items: Sequence[Item],
        *,
        replace_last: bool = False,
        edit_seq: int | None = None,
        created_at: str | None = None,
        usage: TurnUsage | None = None,
    ) -> int:
        """Store ``items`` as one new turn in one transaction and return its sequence number.

        With ``edit_seq`` the active line's turn ``edit_seq`` and every later one move to
        a new branch in the same transaction (``tree.py``), and the new turn continues
        from the turn before it (raise TurnNotFound if the line has no turn ``edit_seq``).
        ``replace_last`` is an edit of the last turn (a regenerated reply: the old one
        stays, as a branch). ``usage`` (what the turn cost) is stored with it, in the
        same transaction.
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

    @abstractmethod
    def pop_item(self, session: SessionInfo) -> Item | None:
        """Delete and return the session's most recent item."""

    @abstractmethod
    def pop_turn(self, session: SessionInfo) -> Turn | None:
        """Delete and return the session's most recent turn."""

    @abstractmethod
    def turn_lock(self, session: SessionInfo) -> AbstractAsyncContextManager[None]:
        """A lock that serializes turns of one session across tasks, threads and processes."""

    @abstractmethod
    def lost_turns(self, session: SessionInfo) -> int:
        """How many of the session's turns were deleted since they were written (undone,
        popped, pruned, cleared), on any branch (raise SessionNotFound)."""

    def import_sessions(
        self,
        records: Sequence[SessionRecord],
        facts: Sequence[FactRecord] = (),
        continuations: Sequence[Continuation] = (),
    ) -> None:
        """Store whole sessions, their summaries and ``facts`` (creating their users), and
        add the turns of ``continuations`` to sessions already stored, in one transaction.

        Raises SessionExists, and stores nothing, if any of the sessions is already there.
        A fact replaces a stored one of the same key only if it is newer. Each session is
        written by the backend's ``write_session``, the one way a whole session goes in.
        A continuation's turns go after its session's active line with the session's turn
        lock held, so that no turn of a chat in it comes between; if that line is no
        longer the one the continuation was made from, or a turn of the session was
        deleted, it raises SessionChanged and stores nothing (``continuation.py``).
        """
        check_continuations(continuations)
        self._import_sessions(*clean_records(records, facts), list(continuations))

    @abstractmethod
    def _import_sessions(
        self,
        records: Sequence[SessionRecord],
        facts: Sequence[FactRecord],
        continuations: Sequence[Continuation],
    ) -> None: ...
