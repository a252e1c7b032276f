"""The SDK Session protocol on memchat's store, and atomic turns through Runner."""

from __future__ import annotations

import asyncio

import pytest
from agents import Agent, Runner, SQLiteSession
from agents.memory import Session
from agents.testing import ScriptedModel, function_call

from memchat.errors import ModelCallFailed
from memchat.store import Store, open_store

from .helpers import reply, scripted_chat, texts_of, user_message


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on each backend (see ``any_store`` in conftest.py)."""
    return any_store


def test_is_an_sdk_session(store: Store) -> None:
    session = store.session("sara", "default")
    assert isinstance(session, Session)
    assert session.session_id == "sara/default"
    assert session.session_settings is None


async def test_protocol_behaves_like_the_sdks_sqlite_session(store: Store) -> None:
    """Same calls, same answers as the SDK's own SQLiteSession."""
    ours = store.session("sara", "default")
    theirs = SQLiteSession("sara")
    items = [
        user_message("hi"),
        {
            "role": "assistant",
            "type": "message",
            "content": [{"type": "output_text", "text": "hello"}],
        },
        user_message("again"),
    ]
    for session in (ours, theirs):
        await session.add_items(items[:2])
        await session.add_items(items[2:])
    assert await ours.get_items() == await theirs.get_items() == items
    assert await ours.get_items(limit=2) == await theirs.get_items(limit=2) == items[1:]
    assert await ours.pop_item() == await theirs.pop_item() == items[2]
    assert await ours.get_items() == items[:2]
    await ours.clear_session()
    assert await ours.get_items() == []
    assert await ours.pop_item() is None
    theirs.close()


async def test_runner_remembers_across_store_reopen(store_location: str) -> None:
    model = ScriptedModel([reply("Nice to meet you, Sara!"), reply("Your name is Sara.")])
    agent: Agent[None] = Agent(name="a", model=model)
    with open_store(store_location) as store:
        await Runner.run(agent, "My name is Sara", session=store.session("sara"))
    with open_store(store_location) as store:
        await Runner.run(agent, "What's my name?", session=store.session("sara"))
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [
        "My name is Sara",
        "Nice to meet you, Sara!",
        "What's my name?",
    ]


async def test_plain_runner_failure_leaves_no_orphan_input(store: Store) -> None:
    """The SDK saves the input before the model call; memchat holds it back until a reply."""
    session = store.session("sara")
    failing: Agent[None] = Agent(name="a", model=ScriptedModel([RuntimeError("model down")]))
    with pytest.raises(RuntimeError):
        await Runner.run(failing, "My name is Sara", session=session)
    assert store.get_items(session.info) == []
    assert await store.session("sara").get_items() == []

    model = ScriptedModel([reply("Hi Sara")])
    await Runner.run(Agent(name="a", model=model), "My name is Sara", session=session)
    assert texts_of(await session.get_items()) == ["My name is Sara", "Hi Sara"]
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == ["My name is Sara"]


async def test_failed_turn_stores_nothing_and_retry_stores_once(store: Store) -> None:
    chat, model = scripted_chat("Hello Sara")
    model._steps.insert(0, model._coerce_step(RuntimeError("boom"), 0))  # first call fails
    session = store.session("sara")
    with pytest.raises(ModelCallFailed, match="nothing was saved"):
        await chat.run_turn(session, "My name is Sara")
    assert store.get_items(session.info) == []

    assert await chat.run_turn(session, "My name is Sara") == "Hello Sara"
    assert texts_of(store.get_items(session.info)) == ["My name is Sara", "Hello Sara"]
    assert len(store.get_turns(session.info)) == 1


async def test_cancelled_turn_stores_nothing(store: Store) -> None:
    """Ctrl-C mid-stream cancels the task: the history stays as it was."""
    started = asyncio.Event()

    async def slow_stream(call):  # type: ignore[no-untyped-def]
        from agents.testing.model import _stream_events_for_step  # noqa: F401

        started.set()
        await asyncio.sleep(3600)
        yield  # pragma: no cover

    from agents.testing import ModelStep

    model = ScriptedModel([ModelStep.stream(slow_stream)])
    from memchat.chat import Chat

    chat = Chat(Agent(name="a", model=model))
    session = store.session("sara")
    task = asyncio.create_task(chat.run_turn(session, "hello"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.get_items(session.info) == []
    assert store.get_turns(session.info) == []


async def test_tool_turn_is_one_turn_and_limit_keeps_pairs(store: Store) -> None:
    from agents import function_tool

    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return f"value of {key}"

    model = ScriptedModel(
        [[function_call("lookup", {"key": "k"}, call_id="c1")], reply("It is value of k")]
    )
    from memchat.chat import Chat

    chat = Chat(Agent(name="a", model=model, tools=[lookup]))
    session = store.session("sara")
    await chat.run_turn(session, "look up k")
    turns = store.get_turns(session.info)
    assert len(turns) == 1
    kinds = [item.get("type", "message") for item in turns[0].items]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    # A window of 2 would start at the output; it must not come without its call.
    window = await session.get_items(limit=2)
    assert [item.get("type") for item in window] == ["message"]
    window = await session.get_items(limit=3)
    assert [item.get("type") for item in window] == [
        "function_call",
        "function_call_output",
        "message",
    ]
