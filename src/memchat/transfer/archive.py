"""What an export holds, and how it is read out of a store: sessions with their summaries,
the items kept out of recall, and a user's facts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from ..store import SessionInfo, Store
from ..store.branches import branch_records
from ..store.continuation import Continuation
from ..store.records import FactRecord, SessionRecord


@dataclass
class Archive:
    """What an export holds: sessions, and the facts of the user they were exported for.

    Of another app's export imported again (``reimport.py``): the new sessions, the turns
    that continue sessions already stored, and how many of those are left as they are.
    """

    sessions: list[SessionRecord]
    facts: list[FactRecord] = field(default_factory=list)
    # Sessions of another app's export that an earlier import already brought in, left
    # as they are (nothing new, or no longer the start of the export's conversation).
    skipped: int = 0
    # Turns for sessions an earlier import brought in, whose conversations grew since.
    continued: list[Continuation] = field(default_factory=list)

    @property
    def turns(self) -> int:
        """The turns it adds to active lines: the new sessions', and the new turns."""
        return sum(len(record.turns) for record in self.sessions) + self.new_turns

    @property
    def updated(self) -> int:
        """How many stored sessions it continues."""
        return len(self.continued)

    @property
    def new_turns(self) -> int:
        """The turns it adds to stored sessions."""
        return sum(len(continuation.turns) for continuation in self.continued)


def session_records(store: Store, sessions: Iterable[SessionInfo]) -> Iterator[SessionRecord]:
    """The full records of ``sessions`` (with their summaries, which of their items are
    kept out of recall, and what each turn cost), one at a time."""
    hidden_of: dict[str, set[int]] = {}
    for info in sessions:
        usage = store.turn_usage(info)
        turns = [replace(turn, usage=usage.get(turn.seq)) for turn in store.get_turns(info)]
        branches = tuple(
            replace(branch, turns=[replace(t, usage=usage.get(t.seq)) for t in branch.turns])
            for branch in branch_records(store, info)
        )
        summary = store.get_summary(info)
        if info.user not in hidden_of:
            hidden_of[info.user] = store.hidden_from_recall(info.user)
        hidden = tuple(
            (turn.seq, index)
            for turn in [*turns, *(t for branch in branches for t in branch.turns)]
            for index, item_id in enumerate(turn.item_ids)
            if item_id in hidden_of[info.user]
        )
        yield SessionRecord(
            info.user,
            info.id,
            info.title,
            info.created_at,
            info.metadata,
            turns,
            summary,
            tuple(sorted(hidden)),
            branches,
            info.project,
            info.scoped,
        )


def user_facts(store: Store, user: str) -> list[FactRecord]:
    """The user's facts, for an export of all their sessions."""
    return [
        FactRecord(user, fact.key, fact.value, fact.source, fact.updated_at, fact.project)
        for fact in store.list_facts(user)
    ]
