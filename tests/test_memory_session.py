"""memchat's memory on the SDK's own path: plain Runner.run / run_streamed with a
``memory_session``, asserting on what the scripted model was given."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, Runner, RunState, function_tool
from agents.testing import ScriptedModel, function_call

from memchat import memory_session
from memchat.memory.tokens import estimate_tokens, item_tokens
from memchat.store import Store, open_store
from memchat.store.base import SessionRecord, Turn, now

from .helpers import reply, system_notes, texts_of, user_message

INSTRUCTIONS = "You are a helpful assistant that remembers the conversation."
TOPICS = ("the weather", "a recipe", "train times", "a book", "the garden", "taxes", "music")


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def model_tokens(call: Any) -> int:
    """Tokens of everything a model call was given, counted as memchat counts them."""
    instructions = estimate_tokens(call.system_instructions or "")
    return instructions + sum(item_tokens(item, estimate_tokens) for item in call.input)


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def long_conversation(turns: int) -> list[Turn]:
    """``turns`` turns; the user says their name in the first and never again."""
    stamp = now()
    said = ["Hi, my name is Sara."]
    said += [
        f"Turn {n}: tell me something about {TOPICS[n % len(TOPICS)]}, please."
        for n in range(1, turns)
    ]
    return [
        Turn(n + 1, stamp, [user_message(text), assistant(f"A note about {TOPICS[n % 7]}.")])
        for n, text in enumerate(said)
    ]


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_a_10000_turn_conversation_stays_in_budget_and_recalls_turn_one(
    store_location: str, streamed: bool
) -> None:
    budget = 1536
    with open_store(store_location) as store:
        store.import_sessions(
            [SessionRecord("sara", "long", None, now(), {}, long_conversation(10_000))]
        )
        session = memory_session(store, "sara", "long", budget=budget, instructions=INSTRUCTIONS)
        model = ScriptedModel([reply("Your name is Sara.")])
        agent: Agent[None] = Agent(name="a", instructions=INSTRUCTIONS, model=model)
        if streamed:
            result = Runner.run_streamed(
                agent, "What's my name?", session=session, run_config=session.run_config
            )
            async for _ in result.stream_events():
                pass
        else:
            await Runner.run(
                agent, "What's my name?", session=session, run_config=session.run_config
            )

        call = model.last_call
        assert call is not None
        assert model_tokens(call) <= budget
        assert "Hi, my name is Sara." in system_notes(call.input)
        assert texts_of(call.input)[-1] == "What's my name?"
        # What is stored is the turn itself: no memory note went into the history.
        last = store.last_turn(session.info)
        assert last is not None and texts_of(last.items) == [
            "What's my name?",
            "Your name is Sara.",
        ]
        assert all(item.get("role") != "system" for item in last.items)
        assert store.get_session("sara", "long").turn_count == 10_001


async def test_the_session_alone_keeps_runs_in_budget_and_knows_the_facts(store: Store) -> None:
    """Without ``run_config`` (only the session line changed): facts, the summary and the
    recent turns, within the budget; nothing of memory's is stored."""
    budget = 600
    session = memory_session(store, "sara", budget=budget, instructions=INSTRUCTIONS)
    replies = [reply(f"Noted, part {n}.") for n in range(40)]
    model = ScriptedModel([reply("Nice to meet you, Sara!"), *replies, reply("You are Sara.")])
    agent: Agent[None] = Agent(name="a", instructions=INSTRUCTIONS, model=model)
    await Runner.run(agent, "My name is Sara", session=session)
    assert session.last_changes.remembered == (("name", "Sara"),)
    for n in range(40):
        await Runner.run(agent, f"Part {n}: the garden needs {n} new tulip bulbs.", session=session)
    await Runner.run(agent, "Who am I?", session=session)

    assert max(model_tokens(call) for call in model.calls) <= budget
    call = model.last_call
    assert call is not None
    assert "name: Sara" in system_notes(call.input)
    # The window moved on: the first turns are summarized, not sent.
    assert "My name is Sara" not in texts_of(call.input)
    assert [f.key for f in store.list_facts("sara")] == ["name"]
    items = store.get_items(session.info)
    assert len(items) == 2 * 42
    assert all(item.get("role") != "system" for item in items)


async def test_facts_learned_on_the_sdk_path_reach_another_session(store: Store) -> None:
    model = ScriptedModel([reply("Hi Sara"), reply("You live in Lisbon")])
    agent: Agent[None] = Agent(name="a", model=model)
    first = memory_session(store, "sara", "one")
    await Runner.run(agent, "Hi, I'm Sara and I live in Lisbon", session=first)
    assert {f.key: f.value for f in store.list_facts("sara")} == {"name": "Sara", "home": "Lisbon"}

    second = memory_session(store, "sara", "two")
    await Runner.run(agent, "Where do I live?", session=second, run_config=second.run_config)
    assert model.last_call is not None
    notes = system_notes(model.last_call.input)
    assert "name: Sara" in notes and "home: Lisbon" in notes


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def test_a_tool_run_is_one_turn_and_every_step_sees_the_memory(store: Store) -> None:
    store.import_sessions([SessionRecord("sara", "t", None, now(), {}, long_conversation(50))])
    session = memory_session(store, "sara", "t", budget=1000)
    model = ScriptedModel(
        [[function_call("weather", {"city": "Porto"}, call_id="w1")], reply("Sunny, Sara.")]
    )
    agent: Agent[None] = Agent(name="a", model=model, tools=[weather])
    await Runner.run(
        agent, "My name? And the weather in Porto?", session=session, run_config=session.run_config
    )

    first, second = model.calls
    assert "Hi, my name is Sara." in system_notes(first.input)
    # The second step is given the same context, then the run's own items.
    assert second.input[: len(first.input)] == first.input
    kinds = [item.get("type", "message") for item in second.input[len(first.input) :]]
    assert kinds == ["function_call", "function_call_output"]
    last = store.last_turn(session.info)
    assert last is not None
    assert [item.get("type", "message") for item in last.items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert store.get_session("sara", "t").turn_count == 51


async def test_an_approval_resumes_with_the_same_memory(store: Store) -> None:
    """Human in the loop: the resumed run (on a reopened session) is given the context
    the run started with, from the SDK's run state, and completes the run's turn."""

    @function_tool(needs_approval=True)
    def send_email(to: str) -> str:
        """Send an email."""
        return f"sent to {to}"

    store.import_sessions([SessionRecord("sara", "h", None, now(), {}, long_conversation(30))])
    model = ScriptedModel(
        [[function_call("send_email", {"to": "ana"}, call_id="e1")], reply("Sent.")]
    )
    agent: Agent[None] = Agent(name="a", model=model, tools=[send_email])
    session = memory_session(store, "sara", "h", budget=1000)
    first = await Runner.run(
        agent, "Email Ana that my name is Sara", session=session, run_config=session.run_config
    )
    assert len(first.interruptions) == 1
    # As a server would: the state goes out as a string and comes back later.
    saved = first.to_state().to_string()
    state = await RunState.from_string(agent, saved)
    state.approve(state.get_interruptions()[0])

    reopened = memory_session(store, "sara", session.session_id, budget=1000)
    result = await Runner.run(agent, state, session=reopened, run_config=reopened.run_config)
    assert result.final_output == "Sent."
    started, resumed = model.calls
    assert system_notes(resumed.input) == system_notes(started.input) != ""
    last = store.last_turn(session.info)
    assert last is not None
    assert [item.get("type", "message") for item in last.items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert json.dumps(last.items).count("Email Ana") == 1
