"""One turn, one result: ``Chat.stream_turn`` ends with the turn's TurnResult.

What a turn did (its context, its memory changes, the stored turn) comes back with the
turn, never as state on the Chat, so one Chat serves turns of many sessions at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent
from agents.testing import ModelCall, ModelStep, ScriptedModel

from memchat.chat import Chat, TurnResult
from memchat.memory.context import Memory
from memchat.store import Store

from .helpers import reply, system_notes, texts_of


def memory_chat(store: Store, model: ScriptedModel) -> Chat:
    agent: Agent[Any] = Agent(name="a", instructions="be brief", model=model)
    return Chat(agent, memory=Memory(store, budget=4000))


async def test_the_stream_is_the_reply_then_one_result(store: Store) -> None:
    chat = memory_chat(store, ScriptedModel([reply("Hello Sara, nice to meet you.")]))
    pieces = [piece async for piece in chat.stream_turn(store.session("sara"), "My name is Sara")]
    *texts, result = pieces
    assert texts and all(isinstance(text, str) for text in texts)
    assert isinstance(result, TurnResult)
    assert "".join(str(text) for text in texts) == result.reply == "Hello Sara, nice to meet you."


async def test_the_result_holds_the_context_the_changes_and_the_stored_turn(
    store: Store,
) -> None:
    model = ScriptedModel([reply("Hello Sara"), reply("Noted.")])
    chat = memory_chat(store, model)
    session = store.session("sara", "trip")

    first = await chat.run_turn(session, "My name is Sara")
    assert (first.user, first.session_id, first.seq) == ("sara", "trip", 1)
    assert first.reply == "Hello Sara"
    assert first.changes.remembered == (("name", "Sara"),) and first.changes.forgotten == ()
    # The turn as stored, item for item.
    (stored,) = store.get_turns(session.info)
    assert list(first.items) == stored.items and stored.seq == 1
    assert texts_of(list(first.items)) == ["My name is Sara", "Hello Sara"]
    assert first.context is not None
    assert [(p.name, p.text) for p in first.context.parts][-1] == ("new message", "My name is Sara")
    assert first.context_tokens == first.context.tokens > 0
    assert first.reply_tokens == chat.memory.count("Hello Sara")  # type: ignore[union-attr]

    second = await chat.run_turn(session, "I live in Porto")
    assert (second.seq, second.reply) == (2, "Noted.")
    assert second.changes.remembered == (("home", "Porto"),)
    # The context is what the model was given: its items, then the new message.
    assert second.context is not None and model.last_call is not None
    given = model.last_call.input
    assert system_notes(given) == system_notes(second.context.items)
    assert "- name: Sara" in system_notes(second.context.items)
    assert texts_of(given) == [*texts_of(second.context.items), "I live in Porto"]
    assert texts_of(second.context.items) == ["My name is Sara", "Hello Sara"]
    # The first result is the first turn's still.
    assert first.changes.remembered == (("name", "Sara"),) and first.seq == 1


async def test_a_replacing_turns_result_names_the_turn_now_stored(store: Store) -> None:
    chat = memory_chat(store, ScriptedModel([reply("Hi"), reply("Hello"), reply("Hey")]))
    session = store.session("sara")
    await chat.run_turn(session, "one")
    replaced = await chat.run_turn(session, "two")
    again = await chat.run_turn(session, "two", replace_last=True)
    turns = store.get_turns(session.info)
    assert [t.seq for t in turns] == [1, again.seq] and again.seq != replaced.seq
    assert list(again.items) == turns[-1].items and again.reply == "Hey"


async def test_without_memory_the_result_has_no_context(store: Store) -> None:
    chat = Chat(Agent(name="a", model=ScriptedModel([reply("Hi there")])))
    result = await chat.run_turn(store.session("sara"), "My name is Sara")
    assert result.context is None and result.context_tokens == 0
    # Without memory no fact is learned from the message.
    assert not result.changes and store.list_facts("sara") == []
    assert result.reply_tokens > 0 and result.seq == 1


async def test_a_memory_tool_change_is_in_its_turns_result(store: Store) -> None:
    from agents.testing import function_call

    from memchat.memory.tools import MEMORY_TOOLS

    store.ensure_user("sara")
    store.set_fact("sara", "home", "Porto", "manual")
    model = ScriptedModel(
        [[function_call("forget", {"key": "home"}, call_id="c1")], reply("Forgotten.")]
    )
    agent: Agent[Any] = Agent(name="a", model=model, tools=list(MEMORY_TOOLS))
    chat = Chat(agent, memory=Memory(store, budget=4000))
    result = await chat.run_turn(store.session("sara"), "Drop my address")
    assert result.changes.forgotten == ("home",) and result.changes.remembered == ()
    # The tool call and its output are part of the stored turn, with the reply.
    kinds = [item.get("type", item.get("role")) for item in result.items]
    assert kinds == ["user", "function_call", "function_call_output", "message"]


async def test_two_turns_at_once_on_one_chat_get_their_own_results(store: Store) -> None:
    """Both turns have assembled their context before either model call answers."""
    both_in_flight = asyncio.Barrier(2)

    async def answer(call: ModelCall) -> list[Any]:
        async with asyncio.timeout(10):
            await both_in_flight.wait()
        return reply(f"You said: {texts_of(call.input)[-1]}")

    model = ScriptedModel([ModelStep.respond(answer), ModelStep.respond(answer)])
    chat = memory_chat(store, model)
    sara, ali = await asyncio.gather(
        chat.run_turn(store.session("sara", "home"), "My name is Sara"),
        chat.run_turn(store.session("ali", "work"), "I live in Porto"),
    )
    assert (sara.user, sara.session_id, sara.seq) == ("sara", "home", 1)
    assert (ali.user, ali.session_id, ali.seq) == ("ali", "work", 1)
    assert sara.reply == "You said: My name is Sara"
    assert ali.reply == "You said: I live in Porto"
    assert sara.changes.remembered == (("name", "Sara"),)
    assert ali.changes.remembered == (("home", "Porto"),)
    assert sara.context is not None and ali.context is not None
    assert sara.context.parts[-1].text == "My name is Sara"
    assert ali.context.parts[-1].text == "I live in Porto"
    assert texts_of(list(sara.items)) == ["My name is Sara", "You said: My name is Sara"]
    assert texts_of(list(ali.items)) == ["I live in Porto", "You said: I live in Porto"]
