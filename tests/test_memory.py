"""Memory: budgeted contexts, summaries beside the originals, facts across sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent
from agents.testing import ModelStep, ScriptedModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memchat.chat import Chat
from memchat.memory.context import (
    RECALL_SHARE,
    SAFETY_MARGIN,
    SLOW_PROMPT_RECALL_SHARE,
    Memory,
    store_recall,
)
from memchat.memory.facts import extract_facts
from memchat.memory.summarize import ModelSummarizer
from memchat.memory.tokens import MESSAGE_OVERHEAD, estimate_tokens, item_tokens
from memchat.store import SessionInfo, SQLiteStore, Store

from .helpers import reply, system_notes, texts_of, user_message

SYSTEM = "You are a helpful assistant."


def assistant(text: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "type": "message",
        "content": [{"type": "output_text", "text": text}],
    }


def tool_pair(call_id: str, output: str) -> list[dict[str, Any]]:
    return [
        {"type": "function_call", "call_id": call_id, "name": "lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": call_id, "output": output},
    ]


words = st.text(alphabet="abcdefghij klmnopqrstuvwxyz", min_size=1, max_size=300)
turn_strategy = st.tuples(words, st.booleans(), words, words)


fact_values = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=80)


def write_turns(store: Store, info: SessionInfo, turns: list[tuple[str, bool, str, str]]) -> None:
    """Each (asked, uses a tool, the tool's output, answer) as one stored turn."""
    for n, (asked, uses_tool, output, answer) in enumerate(turns):
        items = [user_message(asked)]
        if uses_tool:
            items += tool_pair(f"c{n}", output)
        store.commit_turn(info, [*items, assistant(answer)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=st.lists(turn_strategy, min_size=0, max_size=40),
    facts=st.lists(st.tuples(words, fact_values), max_size=30),
    earlier=st.lists(words, max_size=20),
    budget=st.integers(min_value=250, max_value=3000),
    message=words,
)
def test_budget_is_never_exceeded_and_turns_stay_whole(
    turns: list[tuple[str, bool, str, str]],
    facts: list[tuple[str, str]],
    earlier: list[str],
    budget: int,
    message: str,
) -> None:
    """Facts, a summary, passages recalled from another session and the window, together."""
    with SQLiteStore(":memory:") as store:
        for text in earlier:  # another session, for recall to find
            store.commit_turn(store.ensure_session("sara", "older"), [user_message(text)])
        store.ensure_user("sara")
        for key, value in facts:
            store.set_fact("sara", key.strip() or "k", value, "manual")
        info = store.ensure_session("sara", "default")
        write_turns(store, info, turns)
        memory = Memory(store, budget=budget, recall=store_recall(store))
        for _ in range(3):  # again, after summaries have moved the window
            context = asyncio.run(memory.assemble(info, message, SYSTEM))
            total = (
                estimate_tokens(SYSTEM)
                + MESSAGE_OVERHEAD
                + sum(item_tokens(item, estimate_tokens) for item in context.items)
                + estimate_tokens(message)
                + MESSAGE_OVERHEAD
            )
            assert context.tokens == total <= budget
            conversation = [i for i in context.items if i.get("role") != "system"]
            calls = {i["call_id"] for i in conversation if i.get("type") == "function_call"}
            outputs = {
                i["call_id"] for i in conversation if i.get("type") == "function_call_output"
            }
            assert calls == outputs
            # The window is the newest whole turns, in order, starting at a user message.
            stored = [i for t in store.get_turns(info) for i in t.items]
            assert conversation == stored[len(stored) - len(conversation) :]
            assert not conversation or conversation[0].get("role") == "user"
        # Nothing stored was changed by assembling: summaries sit beside the items.
        assert len(store.get_turns(info)) == len(turns)


@pytest.mark.parametrize("budget", [400, 1536, 6000])
async def test_a_full_context_comes_close_to_the_budget_but_never_over(budget: int) -> None:
    """With every part full (many facts, a summary, recalled passages, a window that grows
    and is cut back) the context fills most of the budget and never more. The random
    histories above rarely fill every part at once; this one does, turn after turn."""
    with SQLiteStore(":memory:") as store:
        store.ensure_user("sara")
        for n in range(60):
            store.set_fact("sara", f"fact number {n}", f"the value of fact {n} is {n * 7}", "t")
        older = store.ensure_session("sara", "older")
        for n in range(40):
            store.commit_turn(older, [user_message(f"the lighthouse keeper said {n} " * 6)])
        info = store.ensure_session("sara", "default")
        memory = Memory(store, budget=budget, recall=store_recall(store))
        totals = []
        scale = budget // 400  # turns as long as the budget is large, so that it fills
        for n in range(120):
            asked = f"turn {n}: what about the lighthouse? " + "words " * (n % 17) * scale
            answer = f"answer {n} " * (n % 23) * scale
            store.commit_turn(info, [user_message(asked), assistant(answer)])
            context = await memory.assemble(info, "tell me about the lighthouse keeper", SYSTEM)
            totals.append(context.tokens)
            parts = {part.name for part in context.parts}
            assert "facts and summary" in parts
            # A tiny budget has no room left for earlier messages.
            assert {"recalled", "earlier conversations"} & parts or budget < 1000
        assert max(totals) <= budget
        assert max(totals) >= 0.7 * budget


async def test_recall_takes_the_room_the_window_leaves(store: Store) -> None:
    """A new session has no recent turns: recall may fill their room, beyond its share."""
    older = store.ensure_session("sara", "older")
    for n in range(200):  # too much to be shown whole in 1536 tokens
        store.commit_turn(older, [user_message(f"the lighthouse keeper said thing {n} " * 3)])
    memory = Memory(store, budget=1536, recall=store_recall(store))
    fresh = await memory.assemble(store.ensure_session("sara", "new"), "lighthouse?", SYSTEM)
    recalled = {part.name: part.tokens for part in fresh.parts}["recalled"]
    assert recalled > RECALL_SHARE * 1536 and fresh.tokens <= 1536
    # Recall uses the room: the context comes within a tenth of what the budget allows.
    assert fresh.tokens >= 0.8 * 1536 * (1 - SAFETY_MARGIN)
    # A session whose window is full leaves recall its own share only.
    busy = store.ensure_session("sara", "busy")
    for n in range(60):
        store.commit_turn(busy, [user_message(f"unrelated words number {n} " * 4)])
    full = await memory.assemble(busy, "lighthouse?", SYSTEM)
    assert 0 < {part.name: part.tokens for part in full.parts}["recalled"] < recalled
    assert full.tokens <= 1536


async def test_a_slow_model_keeps_what_it_rereads_small_once_a_session_is_under_way(
    store: Store,
) -> None:
    """For the embedded model recalled excerpts fill the room in a new session, but once
    the session has recent turns they keep to their share: they are read anew every turn."""
    older = store.ensure_session("sara", "older")
    for n in range(200):
        store.commit_turn(older, [user_message(f"the lighthouse keeper said thing {n} " * 3)])
    share = SLOW_PROMPT_RECALL_SHARE
    memory = Memory(store, 1536, recall=store_recall(store), steady_recall_share=share)
    session = store.ensure_session("sara", "new")
    fresh = await memory.assemble(session, "lighthouse?", SYSTEM)
    assert {p.name: p.tokens for p in fresh.parts}["recalled"] > RECALL_SHARE * 1536
    store.commit_turn(session, [user_message("hello"), assistant("hi")])
    under_way = await memory.assemble(session, "lighthouse?", SYSTEM)
    recalled = {p.name: p.tokens for p in under_way.parts}["recalled"]
    assert 0 < recalled <= share * 1536 * (1 - SAFETY_MARGIN)


async def test_a_history_that_fits_goes_in_whole_before_the_window(store: Store) -> None:
    """Every earlier message, oldest first under its session and date, placed before the
    recent turns and the same from turn to turn (so a prompt cache keeps it); never another
    user's."""
    model = ScriptedModel([reply("Noted.")] * 3 + [reply("?")] * 4)
    chat = Chat(
        Agent(name="a", instructions=SYSTEM, model=model),
        memory=Memory(store, budget=4000, recall=store_recall(store)),
    )
    await chat.run_turn(store.session("sara", "trip"), "The ferry to Tangier leaves at 7:40.")
    await chat.run_turn(store.session("sara", "pets"), "My cat is called Miso.")
    await chat.run_turn(store.session("ali", "trip"), "My locker code is 4471.")

    result = await chat.run_turn(store.session("sara", "new"), "Anything on the cat food?")
    assert model.last_call is not None
    first = system_notes(model.last_call.input)
    today = store.get_session("sara", "trip").created_at[:10]
    assert (
        f"[{today}, session trip]\nuser: The ferry to Tangier leaves at 7:40.\n"
        f"assistant: Noted.\n[{today}, session pets]\nuser: My cat is called Miso." in first
    )
    assert "4471" not in str(model.last_call.input)
    assert result.context is not None
    names = [p.name for p in result.context.parts]
    assert names[2:] == ["earlier conversations", "recent turns", "new message"]

    await chat.run_turn(store.session("sara", "new"), "When does the ferry leave?")
    # The next turn's prompt starts with the same text: only the window grew after it.
    assert system_notes(model.last_call.input) == first
    assert texts_of(model.last_call.input)[-1] == "When does the ferry leave?"

    scoped = Chat(
        Agent(name="a", model=model),
        memory=Memory(store, 4000, recall=store_recall(store), cross_session=False),
    )
    await scoped.run_turn(store.session("sara", "new3"), "When does the ferry to Tangier leave?")
    assert "7:40" not in str(model.last_call.input)


async def test_recalled_excerpts_bring_the_turns_around_a_match(store: Store) -> None:
    """When the history does not fit, what recall finds comes with the talk around it, as
    one excerpt per stretch, after the recent turns; other users' messages never."""
    trip = store.ensure_session("sara", "trip")
    store.commit_turn(trip, [user_message("We booked the ferry to Tangier."), assistant("Nice!")])
    store.commit_turn(trip, [user_message("It leaves at 7:40 from pier 3."), assistant("Early.")])
    for n in range(300):  # far more than fits, and none of it about the ferry
        chatter = store.ensure_session("sara", f"chatter-{n // 50}")
        store.commit_turn(chatter, [user_message(f"the garden needs water, day {n} " * 3)])
    store.commit_turn(store.ensure_session("ali", "trip"), [user_message("Ferry at 9:15.")])
    memory = Memory(store, budget=1536, recall=store_recall(store))

    context = await memory.assemble(store.ensure_session("sara", "new"), "the ferry?", SYSTEM)
    names = [p.name for p in context.parts]
    assert names == ["system prompt", "recent turns", "recalled", "new message"]
    recalled = context.parts[2].text
    # "7:40" shares no word with the question: it came as the next turn of a match.
    assert (
        "session trip]\nuser: We booked the ferry to Tangier.\nassistant: Nice!\n"
        "user: It leaves at 7:40 from pier 3.\nassistant: Early." in recalled
    )
    assert recalled.count("We booked the ferry") == 1
    assert "9:15" not in recalled
    assert context.tokens <= 1536


async def test_long_chat_summarizes_and_keeps_the_originals() -> None:
    store = SQLiteStore(":memory:")
    summaries = ScriptedModel(
        [ModelStep.respond(lambda _: reply("Sara introduced herself; her dog is Rex."))] * 30
    )
    model = ScriptedModel([reply(f"answer {n}") for n in range(30)])
    memory = Memory(store, budget=1000, summarizer=ModelSummarizer(summaries))
    chat = Chat(Agent(name="a", instructions=SYSTEM, model=model), memory=memory)
    session = store.session("sara")
    await chat.run_turn(session, "My name is Sara and my dog is Rex. " + "blah " * 20)
    for n in range(29):
        result = await chat.run_turn(session, f"message {n} " + "filler " * 20)
    summary = store.get_summary(session.info)
    assert summary is not None and summary.through_seq > 1
    # The summarizer was given the turns that fell out, starting with the first.
    assert summaries.first_call is not None
    assert "My name is Sara and my dog is Rex" in str(summaries.first_call.input)
    # The model got the summary, not the old turns; everything is still stored.
    assert model.last_call is not None
    assert "her dog is Rex" in system_notes(model.last_call.input)
    assert "My name is Sara and my dog is Rex. " + "blah " * 20 not in texts_of(
        model.last_call.input
    )
    assert len(store.get_turns(session.info)) == 30
    assert result.context is not None and result.context_tokens <= 1000
    # The window is cut back in steps, not every turn: summaries are occasional.
    assert 1 <= len(summaries.calls) <= 8


async def test_facts_cross_sessions_but_not_users(store: Store) -> None:
    model = ScriptedModel([reply("Hi Sara"), reply("You are Sara"), reply("I don't know")])
    chat = Chat(Agent(name="a", model=model), memory=Memory(store, budget=4000))
    await chat.run_turn(
        store.session("sara", "one"), "Hi! My name is Sara, my favorite colour is teal."
    )
    assert {(f.key, f.value, f.source) for f in store.list_facts("sara")} == {
        ("name", "Sara", "one#1"),
        ("favourite colour", "teal", "one#1"),
    }
    await chat.run_turn(store.session("sara", "two"), "What's my name?")
    assert model.last_call is not None
    notes = system_notes(model.last_call.input)
    assert "- name: Sara" in notes and "- favourite colour: teal" in notes
    assert texts_of(model.last_call.input) == ["What's my name?"]
    await chat.run_turn(store.session("ali", "one"), "What's my name?")
    assert "Sara" not in str(model.last_call.input)


async def test_cross_session_memory_can_be_switched_off(store: Store) -> None:
    store.ensure_user("sara")
    store.set_fact("sara", "name", "Sara", "manual")
    model = ScriptedModel([reply("?")])
    chat = Chat(Agent(name="a", model=model), memory=Memory(store, 4000, cross_session=False))
    await chat.run_turn(store.session("sara", "new"), "What's my name?")
    assert model.last_call is not None
    assert "Sara" not in str(model.last_call.input)


async def test_a_message_over_the_budget_is_refused(store: Store) -> None:
    from memchat.errors import InputTooLarge

    memory = Memory(store, budget=300)
    with pytest.raises(InputTooLarge, match="context budget of 300"):
        await memory.assemble(store.ensure_session("sara", "x"), "word " * 400, SYSTEM)


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("Hi, my name is Sara.", [("name", "Sara")]),
        (
            "my favorite color is teal and I live in Lisbon",
            [("home", "Lisbon"), ("favourite colour", "teal")],
        ),
        ("Call me Sam, please. I'm 34 years old.", [("name", "Sam"), ("age", "34")]),
        ("My question is whether this works.", []),
        ("I work as a nurse", [("work", "a nurse")]),
        ("My dog's name is Rex!", [("dog", "Rex")]),
        ("Hi, I'm Sara. I live in Porto.", [("name", "Sara"), ("home", "Porto")]),
        ("hello there! I am Ana Lima, nice to meet you", [("name", "Ana Lima")]),
        ("Hey I\u2019m Tomasz and I like tea", [("name", "Tomasz")]),
        ("my name's Kwame.", [("name", "Kwame")]),
        ("I'm Spanish and I'm tired.", []),
        ("Hi, I'm tired today", []),
        ("Which one? I'm not sure", []),
        ("I'm allergic to peanuts.", [("allergy", "peanuts")]),
        (
            "I have a dog named Rex, and we got a cat called Miso.",
            [("dog", "Rex"), ("cat", "Miso")],
        ),
        ("My daughter is called Emma.", [("daughter", "Emma")]),
        ("I was born in Lagos", [("born", "Lagos")]),
        ("I got a package called out", []),  # a name is capitalized
        ("I'm a nurse in Porto", [("work", "nurse in Porto")]),
        ("I am a teacher at Riverside School.", [("work", "teacher at Riverside School")]),
        ("I'm a bit tired in Lisbon", []),
        ("I'm a nurse", []),  # no place: "I'm a fan" reads the same
        ("I have two cats called Miso and Tofu.", [("cats", "Miso and Tofu")]),
        ("We have 3 dogs named Rex, Max and Bella", [("dogs", "Rex, Max and Bella")]),
        ("I have two cats called them out", []),
        ("I have two cats, Miso and Pixel.", [("cats", "Miso and Pixel")]),
        ("I have two cats, and they fight", []),
        ("I have a dog, Rex.", [("dog", "Rex")]),
        ("I have a dog, and I love it", []),
        ("My sister Ana visits me next week.", [("sister", "Ana")]),
        ("My sister Ana is a doctor.", [("sister", "Ana")]),  # not "sister ana": a doctor
        ("my older brother Tom Lee lives in Oslo", [("older brother", "Tom Lee")]),
        ("my mom I think is right", []),
        ("my dad said so", []),
        ("I play the cello on weekends.", [("instrument", "cello")]),
        ("I play the piano and the guitar", [("instrument", "piano and guitar")]),
        ("I play tennis and chess on Sundays", [("sport", "tennis and chess")]),
        ("I play it safe, I play the lottery", []),
    ],
)
def test_fact_extraction(text: str, facts: list[tuple[str, str]]) -> None:
    assert sorted(extract_facts(text)) == sorted(facts)
