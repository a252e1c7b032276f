"""The window of recent turns: the newest whole turns that fit their share of the budget,
and the running summary of those before them.

The window starts after the summary's last turn. When it outgrows its share it is cut
back to ``LOW_WATER`` of that share in one step, and the turns cut off are summarized:
the window's start, and so the prompt's prefix, then stays put for many turns instead of
sliding every turn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..store import SessionInfo, Store, Turn
from .summarize import ExtractiveSummarizer, Summarizer
from .tokens import TokenCounter, item_tokens

log = logging.getLogger(__name__)

# After a cut the window holds this fraction of its share, leaving room to grow.
LOW_WATER = 0.6
# The most items read back for the window, whatever the budget.
MAX_WINDOW_ITEMS = 400


@dataclass(frozen=True)
class Window:
    """Reads a session's window of recent turns, summarizing what it cuts off."""

    store: Store
    count: TokenCounter
    summarizer: Summarizer

    async def read(
        self,
        session: SessionInfo,
        share: int,
        summary_limit: int,
        cut: int | None,
        hidden: set[int],
    ) -> tuple[list[Turn], str]:
        """The recent turns before turn ``cut`` (None: all) that fit ``share`` tokens, and
        the summary of those before."""
        summary = self.store.get_summary(session)
        if summary is not None and cut is not None and summary.through_seq >= cut:
            summary = None  # it covers replaced turns; the store drops it with the edit
        through = summary.through_seq if summary else 0
        if cut is None:
            turns = self.store.recent_turns(session, through, MAX_WINDOW_ITEMS)
        else:
            # An edit (rare) reads the turns after the summary and keeps those before it.
            turns = _newest(
                [t for t in self.store.turns_after(session, through, None) if t.seq < cut],
                MAX_WINDOW_ITEMS,
            )
        turns = _without(turns, hidden)
        costs = [sum(item_tokens(item, self.count) for item in turn.items) for turn in turns]
        reaches_back = not turns or turns[0].seq == through + 1
        if reaches_back and sum(costs) <= share:
            return turns, summary.text if summary else ""

        # Cut back to LOW_WATER of the share: keep the newest turns that fit.
        keep = 0
        used = 0
        for cost in reversed(costs):
            if used + cost > share * LOW_WATER:
                break
            used += cost
            keep += 1
        kept, dropped = turns[len(turns) - keep :], turns[: len(turns) - keep]
        if not dropped:
            return kept, summary.text if summary else ""
        text = await self._summarize(summary.text if summary else None, dropped, summary_limit)
        self.store.set_summary(session, dropped[-1].seq, text)
        return kept, text

    async def _summarize(self, previous: str | None, turns: Sequence[Turn], limit: int) -> str:
        try:
            text = await self.summarizer(previous, turns, limit)
        except Exception as exc:  # the model may be down; the turn must still go ahead
            log.warning("summarizing with the model failed (%s); kept the user's words", exc)
            text = await ExtractiveSummarizer()(previous, turns, limit)
        while text and self.count(text) > limit:
            # Too long: drop the oldest sentences first.
            text = text.split("\n", 1)[1] if "\n" in text else text[len(text) // 4 :]
        return text


def _newest(turns: list[Turn], max_items: int) -> list[Turn]:
    """The newest whole turns of ``turns`` holding at most ``max_items`` items."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        used += len(turn.items)
        if used > max_items:
            break
        kept.append(turn)
    return kept[::-1]


def _without(turns: list[Turn], hidden: set[int]) -> list[Turn]:
    """``turns`` without the items whose ids are in ``hidden``."""
    if not hidden:
        return turns
    kept = []
    for turn in turns:
        shown = [(i, x) for i, x in zip(turn.item_ids, turn.items, strict=True) if i not in hidden]
        kept.append(replace(turn, items=[x for _, x in shown], item_ids=[i for i, _ in shown]))
    return kept
