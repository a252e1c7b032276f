"""The context budget's edges, exactly: the safety margin and each part's own limit.

A token counter of one token per character makes every cost known, so each test sits on
an edge: one token under it fits, one over it does not. Budget tests elsewhere check
``<= budget``; these check where the budget's lines are.
"""

from __future__ import annotations

import pytest

from memchat.errors import InputTooLarge
from memchat.memory.context import FACTS_SHARE, SAFETY_MARGIN, Memory
from memchat.memory.tokens import MESSAGE_OVERHEAD
from memchat.store import Store

BUDGET = 1000
# What assemble() may use: the budget less its safety margin.
USABLE = int(BUDGET * (1 - SAFETY_MARGIN))


def by_character(text: str) -> int:
    return len(text)


def memory(store: Store) -> Memory:
    return Memory(store, BUDGET, count=by_character)


def test_the_safety_margin_is_a_tenth_of_the_budget() -> None:
    assert SAFETY_MARGIN == 0.10 and USABLE == 900


async def test_a_message_fits_up_to_the_budget_less_its_margin(store: Store) -> None:
    session = store.ensure_session("sara", "s")
    # An empty system prompt and the message take MESSAGE_OVERHEAD each besides the text.
    largest = USABLE - 2 * MESSAGE_OVERHEAD
    context = await memory(store).assemble(session, "x" * largest, "")
    assert context.tokens == USABLE
    with pytest.raises(InputTooLarge):
        await memory(store).assemble(session, "x" * (largest + 1), "")


def fact_line_cost(value: str, key: str = "k") -> int:
    """What one fact costs in the facts part: its line ("- key: value") and a newline."""
    return len(f"- {key}: {value}") + 1


async def test_facts_fill_their_share_and_not_one_token_more(store: Store) -> None:
    session = store.ensure_session("sara", "s")
    limit = int(USABLE * FACTS_SHARE)  # 90 tokens
    first = "a" * (limit // 2 - fact_line_cost(""))
    store.set_fact("sara", "k", first, "test")
    # The newest fact comes first; together the two take the whole share exactly.
    second = "b" * (limit - fact_line_cost(first) - fact_line_cost(""))
    store.set_fact("sara", "j", second, "test")
    assert fact_line_cost(first) + fact_line_cost(second, "j") == limit
    notes = str((await memory(store).assemble(session, "hi", "")).items[0]["content"])
    assert f"- j: {second}" in notes and f"- k: {first}" in notes

    # One character more and the older fact no longer fits.
    store.set_fact("sara", "j", second + "b", "test")
    notes = str((await memory(store).assemble(session, "hi", "")).items[0]["content"])
    assert f"- j: {second}b" in notes and "- k:" not in notes
