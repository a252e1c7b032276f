"""The store contract's part about branches: listing, reading, switching, forking.

An edit is a turn committed with ``edit_seq`` (``Store.commit_turn``); how the tree is
kept is ``tree.py``. The public methods here check their arguments and call the
backend's hooks, as in ``base.py``.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import BranchNotFound, MemchatError, TurnNotFound
from .records import (
    MAX_SEQ,
    BranchInfo,
    BranchRecord,
    FactRecord,
    SessionInfo,
    SessionRecord,
    Turn,
    now,
)

if TYPE_CHECKING:
    from .records import Summary


class BranchesRole(ABC):
    """Branches of a session, mixed into :class:`memchat.store.base.Store`."""

    if TYPE_CHECKING:

        def get_turns(self, session: SessionInfo) -> list[Turn]: ...
        def get_session(self, user: str, session_id: str) -> SessionInfo: ...
        def hidden_from_recall(self, user: str) -> set[int]: ...
        def import_sessions(
            self, records: Sequence[SessionRecord], facts: Sequence[FactRecord] = ()
        ) -> None: ...

    def list_branches(self, session: SessionInfo) -> list[BranchInfo]:
        """The session's inactive branches, by the turn they continue from, then id."""
        return self._list_branches(session)

    def branch_turns(self, session: SessionInfo, branch: int) -> list[Turn]:
        """The turns of an inactive branch, its own only (raise BranchNotFound)."""
        return self._branch_turns(session, _branch_id(branch))

    def activate_branch(self, session: SessionInfo, branch: int) -> None:
        """Make ``branch`` the active line, in one transaction: the active line's turns
        after the fork become a branch of the same id (raise BranchNotFound)."""
        self._activate_branch(session, _branch_id(branch))

    def fork_session(
        self, session: SessionInfo, at_seq: int, new_id: str | None = None
    ) -> SessionInfo:
        """A new session of the same user holding a copy of the active line's turns up to
        turn ``at_seq`` (raise TurnNotFound if the line has no such turn)."""
        turns = self.get_turns(session)
        kept = [turn for turn in turns if turn.seq <= at_seq]
        if not kept or kept[-1].seq != at_seq:
            raise TurnNotFound(f"session {session.id!r} has no turn {at_seq} on its active branch")
        hidden = self.hidden_from_recall(session.user)
        marks = tuple(
            (turn.seq, index)
            for turn in kept
            for index, item_id in enumerate(turn.item_ids)
            if item_id in hidden
        )
        key = secrets.token_hex(4) if new_id is None else new_id
        title = f"{session.display_title} (fork)"
        metadata: dict[str, Any] = {"forked_from": session.id, "forked_at": at_seq}
        record = SessionRecord(session.user, key, title, now(), metadata, kept, None, marks)
        self.import_sessions([record])
        return self.get_session(session.user, key)

    @abstractmethod
    def _list_branches(self, session: SessionInfo) -> list[BranchInfo]: ...

    @abstractmethod
    def _branch_turns(self, session: SessionInfo, branch: int) -> list[Turn]: ...

    @abstractmethod
    def _activate_branch(self, session: SessionInfo, branch: int) -> None: ...


def branch_records(store: BranchesRole, session: SessionInfo) -> tuple[BranchRecord, ...]:
    """The session's inactive branches with their turns, for an export."""
    return tuple(
        BranchRecord(b.id, b.parent, b.fork_seq, b.created_at, store.branch_turns(session, b.id))
        for b in store.list_branches(session)
    )


def check_branches(record: SessionRecord) -> list[Turn]:
    """Every turn of ``record``, active and on branches; raise MemchatError if its branches
    do not make a tree (an id twice or not positive, an unknown parent, a turn number
    twice, a branch without turns)."""
    where = f"session {record.user}/{record.id}"
    ids = [branch.id for branch in record.branches]
    if len(set(ids)) != len(ids) or any(i <= 0 for i in ids):
        raise MemchatError(f"{where}: branch ids must be distinct and positive")
    every = list(record.turns)
    for branch in record.branches:
        if (branch.parent != 0 and branch.parent not in ids) or branch.parent == branch.id:
            raise MemchatError(f"{where}: branch {branch.id} continues an unknown branch")
        if not branch.turns or branch.turns[0].seq <= branch.fork_seq:
            raise MemchatError(f"{where}: branch {branch.id} has no turn after its fork")
        every.extend(branch.turns)
    seqs = [turn.seq for turn in every]
    if len(set(seqs)) != len(seqs):
        raise MemchatError(f"{where}: two turns numbered alike")
    return every


Labels = list[tuple[int, int, int, str]]


def flatten(record: SessionRecord) -> tuple[SessionRecord, Labels, dict[int, list[int]]]:
    """A record to write with every turn of every branch on its active line, numbered
    1, 2, ... in seq order; then which of those seqs go to which branch (``tree.py``'s
    ``label_branches``). A record without branches comes back as it is."""
    if not record.branches:
        return record, [], {}
    every = [(turn.seq, 0, turn) for turn in record.turns] + [
        (turn.seq, branch.id, turn) for branch in record.branches for turn in branch.turns
    ]
    every.sort(key=lambda entry: entry[0])
    renumbered = {seq: n for n, (seq, _, _) in enumerate(every, 1)}

    def number(seq: int) -> int:
        # A fork or summary mark names a turn; 0 is the start.
        return max((n for old, n in renumbered.items() if old <= seq), default=0)

    seqs: dict[int, list[int]] = {}
    for seq, branch, _ in every:
        if branch:
            seqs.setdefault(branch, []).append(renumbered[seq])
    labels = [(b.id, b.parent, number(b.fork_seq), b.created_at) for b in record.branches]
    summary: Summary | None = record.summary
    if summary is not None:
        summary = replace(summary, through_seq=number(summary.through_seq))
    flat = replace(
        record,
        turns=[replace(turn, seq=renumbered[seq]) for seq, _, turn in every],
        summary=summary,
        hidden=tuple((renumbered[seq], index) for seq, index in record.hidden),
        branches=(),
    )
    return flat, labels, seqs


def _branch_id(branch: int) -> int:
    """``branch`` as a store can look it up (BranchNotFound if no store could hold it)."""
    if not 0 < int(branch) <= MAX_SEQ:
        raise BranchNotFound(f"the session has no branch {branch}")
    return int(branch)
