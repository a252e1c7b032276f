"""The records every store reads and writes: users, sessions, turns, facts, search hits.

A *turn* is what one user message produced: the user's input item followed by every item
the agent added for it (reasoning, tool calls and their outputs, the reply). Items are the
Agents SDK's input items, kept as JSON, in order.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from agents import TResponseInputItem

    from .usage import TurnUsage

    Item: TypeAlias = TResponseInputItem
else:
    # Only a name at run time: importing the Agents SDK takes about a second, which
    # commands that never run a model (`memchat sessions list`) should not pay.
    Item = dict


def now() -> str:
    """The current time as the ISO 8601 UTC text the store keeps."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Where a session or fact stands in its list, newest first: (updated_at, row id). Lists
# are read from a position on (keyset pagination), so a page costs the same at any depth.
Position = tuple[str, int]


# The largest turn seq or branch id a store keeps (PostgreSQL's ``integer``): a larger
# number names nothing, on either backend.
MAX_SEQ = 2**31 - 1


@dataclass(frozen=True)
class User:
    """A person with their own sessions and memory."""

    name: str
    created_at: str
    current_session: str | None = None


@dataclass(frozen=True)
class SessionInfo:
    """One conversation of one user (its items are read separately)."""

    pk: int
    user: str
    id: str
    title: str | None
    created_at: str
    updated_at: str
    turn_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    # The project it belongs to ("": none), and whether that project's memory is scoped.
    project: str = ""
    scoped: bool = False

    @property
    def memory_scope(self) -> str | None:
        """The project whose memory this session keeps to (its facts, its sessions'
        messages), or None when it shares the user's memory (no project, or a shared one)."""
        return self.project if self.project and self.scoped else None

    @property
    def display_title(self) -> str:
        """The title, or a placeholder for an untitled session."""
        return self.title or "(untitled)"

    @property
    def position(self) -> Position:
        """Where it stands in ``Store.list_sessions``."""
        return (self.updated_at, self.pk)


@dataclass(frozen=True)
class Turn:
    """One committed turn: the user's input and what the agent added for it."""

    seq: int
    created_at: str
    items: list[Item]
    # The stored items' ids, in the same order (empty for a turn not read from a store).
    item_ids: list[int] = field(default_factory=list, compare=False, repr=False)
    # What the turn cost (``usage.py``), where known: set by export and import only.
    usage: TurnUsage | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BranchInfo:
    """A continuation of a session that is not the active one (see ``store/tree.py``).

    It continues from turn ``fork_seq`` (0: from the start) of branch ``parent`` (0: the
    active line), and holds its own turns only: what comes before is its parent's.
    """

    id: int
    parent: int
    fork_seq: int
    created_at: str
    turn_count: int
    # The first item of its first turn (the edited message, for a branch made by an edit).
    first_item: Item | None
    # The seq of its first turn: a session gives each seq once, so branches that continue
    # from the same turn are in the order they were written by it (None if it has none).
    first_seq: int | None = None


@dataclass(frozen=True)
class BranchRecord:
    """An inactive branch as export writes it and import reads it: where it continues
    from, and its own turns, numbered in the same sequence as its session's."""

    id: int
    parent: int
    fork_seq: int
    created_at: str
    turns: list[Turn]


@dataclass(frozen=True)
class Fact:
    """Something durable the user said about themselves ("name" -> "Sara")."""

    id: int
    key: str
    value: str
    source: str
    updated_at: str
    # Since when the fact has had this value (None: not recorded, a fact kept before 0.x).
    valid_from: str | None = None
    # The scoped project it belongs to ("": user-wide, given to every session).
    project: str = ""

    @property
    def position(self) -> Position:
        """Where it stands in ``Store.list_facts``."""
        return (self.updated_at, self.id)


@dataclass(frozen=True)
class FactSource:
    """A message a fact was learned from: turn ``seq`` of the user's session
    ``session_id``, whose user message is item ``item_id``."""

    session_id: str
    seq: int
    item_id: int

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq}"


@dataclass(frozen=True)
class FactVersion:
    """An earlier value of the fact ``key``, from ``valid_from`` until ``valid_to``."""

    key: str
    value: str
    source: str
    valid_from: str
    valid_to: str
    sources: tuple[FactSource, ...] = ()
    project: str = ""


@dataclass(frozen=True)
class Project:
    """A user's project: a name sessions are filed under, and how its memory is kept.

    ``scoped``: facts learned in its sessions are its own, and its sessions are given its
    facts and the user-wide ones, and recall only its sessions' messages. Otherwise
    (shared, the default) its sessions remember as any other session does.
    """

    name: str
    scoped: bool
    created_at: str
    sessions: int = 0
    facts: int = 0


@dataclass(frozen=True)
class Summary:
    """A session's running summary of every turn up to and including ``through_seq``."""

    through_seq: int
    text: str
    updated_at: str


@dataclass(frozen=True)
class PruneReport:
    """What ``Store.prune`` deleted."""

    turns: int
    sessions: int
    facts: int


@dataclass(frozen=True)
class SearchHit:
    """One message found by ``Store.search``, with where and when it was said."""

    session_id: str
    session_title: str | None
    seq: int
    item_id: int
    role: str
    created_at: str
    snippet: str
    # Relevance: the negated FTS5 bm25 rank, so a higher score is a better match.
    score: float
    # The branch the message is on: 0 for the active line (see ``store/tree.py``).
    branch: int = 0


@dataclass(frozen=True)
class IndexedMessage:
    """A message as the search index keeps it, with the messages said just before it."""

    item_id: int
    session_id: str
    seq: int
    role: str
    created_at: str
    text: str
    # Item ids of the one or two messages before this one in its session, nearest first.
    previous: tuple[int, ...]
    # Relevance to the query that found it (higher is better); 0.0 when fetched by id.
    score: float


@dataclass(frozen=True)
class SessionRecord:
    """A whole session as export writes it and import reads it."""

    user: str
    id: str
    title: str | None
    created_at: str
    metadata: dict[str, Any]
    turns: list[Turn]
    # Its running summary, if the window has moved past some turns (see memory/).
    summary: Summary | None = None
    # The items kept out of recall (memory/forget.py), as (turn seq, index in the turn).
    hidden: tuple[tuple[int, int], ...] = ()
    # Its inactive branches (edited messages' earlier continuations), oldest id first.
    branches: tuple[BranchRecord, ...] = ()
    # Its project ("": none) and whether that project's memory is scoped.
    project: str = ""
    scoped: bool = False


@dataclass(frozen=True)
class FactRecord:
    """A user's fact as export writes it and import reads it."""

    user: str
    key: str
    value: str
    source: str
    updated_at: str
    # The scoped project it belongs to ("": user-wide).
    project: str = ""


_QUERY_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 32


def query_words(text: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order of appearance (at most 32).

    A word is a run of letters and digits, the unit the full-text index is built from, so
    every word can be matched as a quoted term: no query text is ever query syntax.
    """
    found = _QUERY_WORD.findall(unicodedata.normalize("NFKC", text).lower())
    return list(dict.fromkeys(found))[:MAX_QUERY_WORDS]
