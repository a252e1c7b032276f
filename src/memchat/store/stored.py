"""A whole session in the form a store keeps it: what one write of a session takes.

Each backend writes a whole session with one function (``sqlite/sessions.py`` and
``postgres/sessions.py``, ``write_session``), and every path that writes one goes through
it: an import (``Store.import_sessions``, from records encoded here by ``encode_record``)
and ``memchat migrate`` (from another store's rows, read as they are stored, so that every
value is copied byte for byte and sealed values stay sealed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .branches import flatten
from .codec import pack_item, seal_title
from .crypto import Cipher, seal
from .records import Item, SessionRecord, Summary
from .usage import TurnUsage


@dataclass(frozen=True)
class StoredTurn:
    """One turn: its items as objects (for the search index) and as stored text."""

    seq: int
    created_at: str
    items: list[Item]
    data: list[str]
    # What the turn cost, if known (``usage.py``).
    usage: TurnUsage | None = None


@dataclass(frozen=True)
class StoredSession:
    """A session with its turns, summary and hidden items, each value as stored.

    ``title`` and the summary's text are sealed if the store is encrypted; ``metadata`` is
    JSON text; ``hidden`` names the items kept out of recall as (turn seq, index in turn).
    """

    user: str
    id: str
    title: str | None
    created_at: str
    updated_at: str
    turn_count: int
    last_seq: int
    metadata: str
    turns: list[StoredTurn]
    summary: Summary | None = None
    hidden: tuple[tuple[int, int], ...] = ()
    # Its inactive branches (id, parent, fork_seq, created_at) and which turns (seq,
    # branch) are theirs: ``turns`` holds every turn, written on the active line, then
    # labelled (``tree.label_branches``).
    branches: tuple[tuple[int, int, int, str], ...] = ()
    on_branch: tuple[tuple[int, int], ...] = ()
    # Its project ("": none), and whether that project's memory is scoped.
    project: str = ""
    scoped: bool = False

    def branch_seqs(self) -> dict[int, list[int]]:
        """The seqs of each branch's turns."""
        seqs: dict[int, list[int]] = {}
        for seq, branch in self.on_branch:
            seqs.setdefault(branch, []).append(seq)
        return seqs


def encode_record(record: SessionRecord, cipher: Cipher | None) -> StoredSession:
    """A record to import as it will be stored: its turns numbered 1, 2, ... in order
    (an import starts the session afresh), and its content sealed if there is a cipher.
    Its branches' turns are numbered among them, in the order they were said."""
    record, labels, seqs = flatten(record)
    renumbered = {turn.seq: seq for seq, turn in enumerate(record.turns, 1)}
    turns = [
        StoredTurn(
            seq,
            turn.created_at,
            turn.items,
            [pack_item(cipher, i) for i in turn.items],
            turn.usage,
        )
        for seq, turn in enumerate(record.turns, 1)
    ]
    summary = record.summary
    if summary is not None:
        summary = Summary(summary.through_seq, seal(cipher, summary.text), summary.updated_at)
    return StoredSession(
        user=record.user,
        id=record.id,
        title=seal_title(cipher, record.title),
        created_at=record.created_at,
        updated_at=record.turns[-1].created_at if record.turns else record.created_at,
        turn_count=len(turns),
        last_seq=len(turns),
        metadata=json.dumps(record.metadata),
        turns=turns,
        summary=summary,
        hidden=tuple((renumbered[seq], index) for seq, index in record.hidden),
        branches=tuple(labels),
        on_branch=tuple((seq, branch) for branch, held in seqs.items() for seq in held),
        project=record.project,
        scoped=record.scoped,
    )


def hidden_ids(session: StoredSession, stored: list[tuple[int, int]]) -> list[int]:
    """The ids of ``session``'s hidden items among its ``stored`` (seq, id) rows, in order."""
    by_turn: dict[int, list[int]] = {}
    for seq, item_id in stored:
        by_turn.setdefault(seq, []).append(item_id)
    return [by_turn[seq][index] for seq, index in session.hidden]
