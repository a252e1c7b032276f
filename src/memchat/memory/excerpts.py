"""Excerpts: what recall found, with the turns around it, fitted to the room left.

Recall ranks single messages, but people say one thing in several: "got new shoes" /
"they're red" / "from the market". So each recalled message brings the turns around
it, each weighed less the further it is (``DECAY`` per turn, up to ``REACH`` turns
away), and messages are taken best first until the room is full: near a strong match
that fills in the surrounding talk, before weaker matches elsewhere. The chosen messages
are then shown in the order they were said, grouped by session and day, with "…" where
messages were skipped, so adjacent finds read as one excerpt and no message is shown
twice.

When every message of the user's history fits the room (``whole_history``), it is
shown whole instead: nothing is left to choose, and the text stays the same from turn
to turn, so it can sit early in the prompt where a prompt cache keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..store import Store
from ..store.base import IndexedMessage
from .recall import MAX_PASSAGE_CHARS, Passage, excerpt
from .tokens import TokenCounter

# A recalled message brings the turns up to REACH before and after it, each turn away
# weighing DECAY times less. Chosen on the LoCoMo and REALTALK development splits
# (bench/locomo_context.py --reach --decay; bench/README.md), where REACH 2-8 and DECAY
# 0.5-0.7 moved the evidence in context by under a point.
REACH = 2
DECAY = 0.5
# Tokens kept for a skipped-messages mark and a line break around each message.
LINE_SLACK = 2
# Fewer tokens than this left: no message fits any more.
MIN_LINE = 6

RECALLED_HEADER = (
    "Earlier messages with this user that may be relevant (oldest first; … marks skipped messages):"
)
HISTORY_HEADER = "Your earlier conversations with this user (oldest first):"


@dataclass(frozen=True)
class Excerpts:
    """Messages chosen from the history, as shown to the model."""

    text: str
    item_ids: frozenset[int]


def whole_history(
    messages: Sequence[IndexedMessage], room: int, count: TokenCounter
) -> Excerpts | None:
    """All of ``messages`` as one text, or None if they do not fit in ``room`` tokens."""
    if not messages:
        return None
    text = render(HISTORY_HEADER, messages, {})
    if count(text) > room:
        return None
    return Excerpts(text, frozenset(m.item_id for m in messages))


def recalled(
    store: Store,
    user: str,
    passages: Sequence[Passage],
    room: int,
    count: TokenCounter,
    *,
    leave_out: set[int],
) -> Excerpts | None:
    """The best of ``passages`` and the turns around them that fit ``room`` tokens.

    ``leave_out``: item ids never shown (already in the window, or hidden by forgetting).
    """
    passages = [p for p in passages if p.item_id not in leave_out]
    if not passages or room <= count(RECALLED_HEADER):
        return None
    top = passages[0].score or 1.0
    hits = {p.item_id: p for p in passages}
    # Only the turns around passages that could fit are read.
    spans, cost = [], 0
    for passage in passages:
        if cost > room:
            break
        cost += count(passage.text) + LINE_SLACK
        spans.append((passage.session_id, passage.seq - REACH, passage.seq + REACH))
    near = [m for m in store.messages_near(user, spans) if m.item_id not in leave_out]
    weight = _weights(passages[: len(spans)], near, top)
    texts = {m.item_id: hits[m.item_id].text if m.item_id in hits else _cut(m.text) for m in near}
    by_id = {m.item_id: m for m in near}
    chosen: list[IndexedMessage] = []
    used = count(RECALLED_HEADER)
    groups: set[tuple[str, str]] = set()
    for item_id in sorted(weight, key=lambda i: (-weight[i], -i)):
        if room - used < MIN_LINE:
            break
        message = by_id[item_id]
        group = (message.session_id, message.created_at[:10])
        line = count(_line(message, texts[item_id])) + LINE_SLACK
        if group not in groups:
            line += count(_group_header(message))
        if used + line > room:
            continue
        used += line
        groups.add(group)
        chosen.append(message)
    if not chosen:
        return None
    chosen.sort(key=lambda m: m.item_id)
    text = render(RECALLED_HEADER, chosen, texts, gaps=True)
    while count(text) > room and chosen:  # the slack was short: drop the weakest
        chosen.remove(min(chosen, key=lambda m: (weight[m.item_id], m.item_id)))
        text = render(RECALLED_HEADER, chosen, texts, gaps=True)
    return Excerpts(text, frozenset(m.item_id for m in chosen)) if chosen else None


def _weights(
    passages: Sequence[Passage], near: Sequence[IndexedMessage], top: float
) -> dict[int, float]:
    """Each nearby message's weight: the best of the passages' scores, decayed by turns."""
    # The best passage score of each turn, so each message looks at 2 * REACH + 1 turns.
    best_in_turn: dict[tuple[str, int], float] = {}
    for passage in passages:
        turn = (passage.session_id, passage.seq)
        best_in_turn[turn] = max(best_in_turn.get(turn, 0.0), passage.score / top)
    own = {p.item_id: p.score / top for p in passages}
    weight: dict[int, float] = {}
    for message in near:
        best = own.get(message.item_id, 0.0)
        for distance in range(-REACH, REACH + 1):
            score = best_in_turn.get((message.session_id, message.seq + distance))
            if score is not None:
                best = max(best, score * DECAY ** abs(distance))
        if best > 0:
            weight[message.item_id] = best
    return weight


def render(
    header: str,
    messages: Sequence[IndexedMessage],
    texts: dict[int, str],
    *,
    gaps: bool = False,
) -> str:
    """``messages`` (in order) under ``header``, a line each, a heading per session and day.

    With ``gaps``, "…" stands where messages of a session were skipped.
    """
    lines = [header]
    group: tuple[str, str] | None = None
    last = 0
    for message in messages:
        here = (message.session_id, message.created_at[:10])
        if here != group:
            lines.append(_group_header(message))
        elif gaps and message.previous[:1] != (last,):
            lines.append("…")
        group, last = here, message.item_id
        lines.append(_line(message, texts.get(message.item_id) or _cut(message.text)))
    return "\n".join(lines)


def _group_header(message: IndexedMessage) -> str:
    return f"[{message.created_at[:10]}, session {message.session_id}]"


def _line(message: IndexedMessage, text: str) -> str:
    return f"{message.role}: {text}"


def _cut(text: str) -> str:
    return excerpt(text, []) if len(text) > MAX_PASSAGE_CHARS else text
