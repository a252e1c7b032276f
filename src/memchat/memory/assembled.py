"""What one turn's context is made of: its parts and the items handed to the model, and
how recall is asked for the excerpts (``RecallFn``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..store import Item, Store
from .recall import Passage, recall

# The name of the part recalled for this turn's message alone.
RECALLED = "recalled"


RecallFn = Callable[[str, str, int, str | None, set[int], str | None], Sequence[Passage]]
"""recall(user, query, k, session_id or None for all sessions, item ids to leave out,
the scoped project to keep to, or None for the user's shared memory: every session but
those of scoped projects) -> passages, best first."""


def store_recall(store: Store) -> RecallFn:
    """The store's full-text recall (``memory.recall``) as a RecallFn."""

    def recall_from_store(
        user: str,
        query: str,
        k: int,
        session_id: str | None,
        exclude: set[int],
        project: str | None,
    ) -> Sequence[Passage]:
        return recall(
            store,
            user,
            query,
            k=k,
            session_id=session_id,
            exclude_item_ids=exclude,
            project=project,
        )

    return recall_from_store


@dataclass(frozen=True)
class ContextPart:
    """One part of the assembled context and the tokens it takes."""

    name: str
    tokens: int
    text: str


@dataclass
class AssembledContext:
    """The context of one turn: the items handed to the model, and how they add up."""

    budget: int
    parts: list[ContextPart] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Total tokens of every part."""
        return sum(part.tokens for part in self.parts)

    @property
    def turn_only(self) -> list[str]:
        """The texts of the system messages shown for this turn's message alone (the
        recalled excerpts): the next turn's context will not hold them."""
        return [part.text for part in self.parts if part.name == RECALLED]
