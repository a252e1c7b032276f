"""Memory tools: a model that calls tools remembers, forgets and searches, atomically."""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, function_call

from memchat.chat import Chat
from memchat.config import load_settings
from memchat.errors import ModelCallFailed
from memchat.memory.context import Memory
from memchat.memory.context import store_recall as recall_of
from memchat.memory.tools import MEMORY_TOOLS
from memchat.models import resolve_model
from memchat.store import Store

from .helpers import reply, system_notes, texts_of, user_message


def tool_chat(store: Store, *steps: Any) -> tuple[Chat, ScriptedModel]:
    model = ScriptedModel(list(steps))
    agent: Agent[Any] = Agent(name="a", model=model, tools=list(MEMORY_TOOLS))
    return Chat(agent, memory=Memory(store, budget=4000)), model


def call(name: str, call_id: str = "c1", **arguments: str) -> list[Any]:
    """One scripted model step that calls tool ``name``."""
    return [function_call(name, arguments, call_id=call_id)]


def tool_output(model: ScriptedModel) -> str:
    """What the last tool call returned, as the model was given it."""
    assert model.last_call is not None
    outputs = [i for i in model.last_call.input if i.get("type") == "function_call_output"]
    return str(outputs[-1]["output"])


async def test_a_remembered_fact_is_kept_and_reaches_the_next_chat(store: Store) -> None:
    chat, model = tool_chat(
        store,
        call("remember", key="Allergy", value="peanuts"),
        reply("Noted: no peanuts."),
        reply("You are allergic to peanuts."),
    )
    result = await chat.run_turn(store.session("sara", "food"), "I'm allergic to peanuts")
    assert tool_output(model) == "Remembered allergy: peanuts."
    assert str(result.changes) == "remembered allergy: peanuts"
    assert [(f.key, f.value, f.source) for f in store.list_facts("sara")] == [
        ("allergy", "peanuts", "tool: food#1")
    ]
    await chat.run_turn(store.session("sara", "later"), "What am I allergic to?")
    assert model.last_call is not None
    assert "- allergy: peanuts" in system_notes(model.last_call.input)


async def test_a_failed_turn_changes_no_memory(store: Store) -> None:
    store.ensure_user("sara")
    store.set_fact("sara", "home", "Porto", "manual")
    chat, model = tool_chat(
        store,
        call("remember", key="allergy", value="peanuts"),
        call("forget", call_id="c2", key="home"),
        RuntimeError("provider down"),
    )
    with pytest.raises(ModelCallFailed):
        await chat.run_turn(store.session("sara", "s"), "I'm allergic to peanuts; forget Porto")
    # Both tools ran (the model was called after each), and neither change was made.
    assert len(model.calls) == 3
    assert [(f.key, f.value) for f in store.list_facts("sara")] == [("home", "Porto")]
    assert store.get_session("sara", "s").turn_count == 0


async def test_forget_removes_a_fact_and_says_what_it_knows_otherwise(store: Store) -> None:
    store.ensure_user("sara")
    store.set_fact("sara", "home", "Porto", "manual")
    store.set_fact("sara", "name", "Sara", "manual")
    chat, model = tool_chat(
        store,
        call("forget", key="address"),
        call("forget", call_id="c2", key="Home"),
        reply("Done, I forgot where you live."),
    )
    result = await chat.run_turn(store.session("sara", "s"), "Forget where I live")
    assert model.calls[1].input[-1]["output"] == (
        "There is no fact 'address' to forget (known: home, name)."
    )
    assert tool_output(model) == "Forgot home."
    assert str(result.changes) == "forgot home"
    assert [f.key for f in store.list_facts("sara")] == ["name"]


async def test_search_history_finds_the_users_own_earlier_messages(store: Store) -> None:
    chat, model = tool_chat(
        store,
        reply("Noted."),
        reply("Noted."),
        call("search_history", query="ferry Tangier"),
        reply("It leaves at 7:40."),
    )
    await chat.run_turn(store.session("sara", "trip"), "The ferry to Tangier leaves at 7:40")
    await chat.run_turn(store.session("ali", "trip"), "My ferry to Tangier leaves at noon")
    await chat.run_turn(store.session("sara", "new"), "When was my ferry?")
    found = tool_output(model)
    assert "user: The [ferry] to [Tangier] leaves at 7:40" in found
    assert "noon" not in found
    # With memory kept to each session, the tool searches this session only.
    assert chat.memory is not None
    chat.memory.cross_session = False
    model.extend([call("search_history", query="ferry Tangier"), reply("I don't know.")])
    await chat.run_turn(store.session("sara", "new"), "When was my ferry?")
    found = tool_output(model)
    assert "When was my [ferry]?" in found and "7:40" not in found


async def test_without_tools_forget_my_x_still_forgets(store: Store) -> None:
    store.ensure_user("sara")
    store.set_fact("sara", "favourite colour", "teal", "manual")
    store.set_fact("sara", "home", "Porto", "manual")
    model = ScriptedModel([reply("Forgotten."), reply("Forgotten.")])
    chat = Chat(Agent(name="a", model=model), memory=Memory(store, budget=4000))
    await chat.run_turn(store.session("sara", "s"), "Please forget my favorite color.")
    assert [f.key for f in store.list_facts("sara")] == ["home"]
    await chat.run_turn(store.session("sara", "s"), "and forget where I live")
    assert store.list_facts("sara") == []


@pytest.mark.parametrize(
    ("env", "tools"),
    [
        ({"OPENAI_API_KEY": "sk-test"}, ["remember", "forget", "search_history"]),
        ({"OPENAI_API_KEY": "sk-test", "MEMCHAT_MEMORY_TOOLS": "false"}, []),
        ({"MEMCHAT_MODEL": "local"}, []),  # the embedded model cannot call tools
    ],
)
def test_tools_go_to_models_that_can_call_them(
    store: Store, env: dict[str, str], tools: list[str]
) -> None:
    settings = load_settings(env={"MEMCHAT_HOME": "/tmp/memchat-test-home", **env})
    chat = Chat.from_settings(settings, resolve_model(settings), store)
    assert [tool.name for tool in chat.agent.tools] == tools


async def test_a_forgotten_fact_is_not_recalled_but_stays_in_the_history(store: Store) -> None:
    model = ScriptedModel([reply("Noted.")] * 2 + [reply("?")] * 2)
    chat = Chat(Agent(name="a", model=model), memory=Memory(store, 4000, recall=recall_of(store)))
    await chat.run_turn(store.session("sara", "one"), "I live in Porto, near the river.")
    await chat.run_turn(store.session("sara", "two"), "Where do I live?")
    assert model.last_call is not None and "Porto" in str(model.last_call.input)

    result = await chat.run_turn(store.session("sara", "three"), "Please forget where I live.")
    assert str(result.changes) == "forgot home"
    await chat.run_turn(store.session("sara", "four"), "Where do I live? Porto?")
    # Neither the fact nor the message that said it reach the model (the question does).
    assert texts_of(model.last_call.input) == ["Where do I live? Porto?"]
    assert "near the river" not in str(model.last_call.input)
    # The message is still in the history, and the user's own search finds it.
    assert "near the river" in str(store.get_items(store.get_session("sara", "one")))
    assert [hit.session_id for hit in store.search("sara", "river")] == ["one"]
    # In the session that said it, the model no longer sees it among the recent turns
    # (the assistant's reply, which did not repeat it, stays).
    model.extend([reply("?")])
    await chat.run_turn(store.session("sara", "one"), "So, where do I live?")
    assert texts_of(model.last_call.input) == ["Noted.", "So, where do I live?"]


async def test_a_fact_the_forget_tool_forgets_is_not_recalled(store: Store) -> None:
    model = ScriptedModel(
        [reply("Noted."), call("forget", key="home"), reply("Forgotten."), reply("?")]
    )
    agent: Agent[Any] = Agent(name="a", model=model, tools=list(MEMORY_TOOLS))
    chat = Chat(agent, memory=Memory(store, 4000, recall=recall_of(store)))
    await chat.run_turn(store.session("sara", "one"), "I live in Porto, near the river.")
    assert [f.key for f in store.list_facts("sara")] == ["home"]
    await chat.run_turn(store.session("sara", "two"), "Drop what you know of my home.")
    assert tool_output(model).startswith("Forgot home")
    await chat.run_turn(store.session("sara", "three"), "Where do I live?")
    assert model.last_call is not None
    assert "Porto" not in str(model.last_call.input)
    assert texts_of(model.last_call.input)[-1] == "Where do I live?"


def test_a_search_failure_while_forgetting_is_reported_not_taken_for_nothing_hidden(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memchat.errors import StoreError
    from memchat.memory.forget import forget_fact

    store.commit_turn(store.ensure_session("sara", "s"), [user_message("I live in Porto")])
    store.set_fact("sara", "home", "Porto", "s#1")

    def fail(*args: object, **kwargs: object) -> None:
        raise StoreError("cannot read the database: disk I/O error")

    monkeypatch.setattr(store, "search", fail)
    with pytest.raises(StoreError, match="disk I/O error"):
        forget_fact(store, "sara", "home")


def test_forgetting_takes_the_fact_out_of_summaries(store: Store) -> None:
    from memchat.memory.forget import forget_fact

    info = store.ensure_session("sara", "s")
    store.commit_turn(info, [{"role": "user", "content": "I live in Porto"}])
    store.set_summary(info, 1, "Sara lives in Porto. She likes tea.\nThe user said: porto!")
    other = store.ensure_session("sara", "t")
    store.commit_turn(other, [{"role": "user", "content": "hello"}])
    store.set_summary(other, 1, "Sara said hello.")
    store.set_fact("sara", "home", "Porto", "s#1")
    assert forget_fact(store, "sara", "home").fact.value == "Porto"
    summary = store.get_summary(info)
    assert summary is not None and summary.text == "She likes tea."
    untouched = store.get_summary(other)
    assert untouched is not None and untouched.text == "Sara said hello."
