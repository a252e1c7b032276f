"""The SDK Session protocol on memchat's store, and atomic turns through Runner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import Agent, Runner, SQLiteSession, function_tool
from agents.memory import Session, SessionSettings
from agents.testing import ModelStep, ScriptedModel, function_call

from memchat.errors import ModelCallFailed
from memchat.store import SessionInfo, Store, open_store

from .helpers import reply, scripted_chat, texts_of, user_message


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on each backend (see ``any_store`` in conftest.py)."""
    return any_store


def test_is_an_sdk_session(store: Store) -> None:
    session = store.session("sara", "default")
    assert isinstance(session, Session)
    assert session.session_id == "default"
    assert session.session_settings == SessionSettings()


async def test_protocol_behaves_like_the_sdks_sqlite_session(store: Store) -> None:
    """Same calls, same answers as the SDK's own SQLiteSession."""
    ours = store.session("sara", "default")
    theirs = SQLiteSession("sara")
    items: list[Any] = [
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


async def test_plain_runner_failure_keeps_the_input_as_the_sdk_does(store: Store) -> None:
    """The SDK stores the input before it calls the model, and so does memchat: the
    session is not told whether a run failed or ended without output (whose input must
    stay). All-or-nothing turns are ``session.turn()`` (see the next test)."""
    session = store.session("sara")
    failing: Agent[None] = Agent(name="a", model=ScriptedModel([RuntimeError("model down")]))
    with pytest.raises(RuntimeError):
        await Runner.run(failing, "My name is Sara", session=session)
    assert texts_of(await store.session("sara").get_items()) == ["My name is Sara"]

    model = ScriptedModel([reply("Hi Sara")])
    await Runner.run(Agent(name="a", model=model), "I'm Sara", session=session)
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == ["My name is Sara", "I'm Sara"]
    assert [texts_of(turn.items) for turn in store.get_turns(session.info)] == [
        ["My name is Sara"],
        ["I'm Sara", "Hi Sara"],
    ]


async def test_failed_turn_stores_nothing_and_retry_stores_once(store: Store) -> None:
    chat, model = scripted_chat("Hello Sara")
    model._steps.insert(0, model._coerce_step(RuntimeError("boom"), 0))  # first call fails
    session = store.session("sara")
    with pytest.raises(ModelCallFailed, match="nothing was saved"):
        await chat.run_turn(session, "My name is Sara")
    assert store.get_items(session.info) == []

    assert (await chat.run_turn(session, "My name is Sara")).reply == "Hello Sara"
    assert texts_of(store.get_items(session.info)) == ["My name is Sara", "Hello Sara"]
    assert len(store.get_turns(session.info)) == 1


async def test_cancelled_turn_stores_nothing(store: Store) -> None:
    """Ctrl-C mid-stream cancels the task: the history stays as it was."""
    started = asyncio.Event()

    async def slow_stream(call):
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


# -- plain Runner.run: the bugs the SDK's own session tests found ---------------------------


@function_tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def labels(items: Any) -> list[str]:
    """Items as their texts, a tool call or output as ``call:ID`` or ``out:ID``."""

    def label(item: Any) -> str:
        kind = item.get("type")
        if kind == "function_call":
            return f"call:{item['call_id']}"
        if kind == "function_call_output":
            return f"out:{item['call_id']}"
        return texts_of([item])[0]

    return [label(item) for item in items]


def stored_turns(store: Store, info: SessionInfo) -> list[list[str]]:
    """Every stored turn of the session, as ``labels``."""
    return [labels(turn.items) for turn in store.get_turns(info)]


@pytest.mark.parametrize("one_object", [True, False], ids=["one-session-object", "one-each"])
async def test_plain_tool_runs_of_two_tasks_keep_their_own_turns(
    store_location: str, one_object: bool
) -> None:
    """Run A calls a tool, then its last model call is slow; run B happens meanwhile.

    A's reply goes to A's turn, not to B's (the newest): `/undo` then removes B's run
    only. With one store object per run the runs share no memory, as two processes."""
    first_step_done = asyncio.Event()
    b_done = asyncio.Event()

    async def slow_reply(call: Any) -> list[Any]:
        first_step_done.set()
        await b_done.wait()
        return reply("reply A")

    model_a = ScriptedModel(
        [[function_call("lookup", {"key": "a"}, call_id="A")], ModelStep.respond(slow_reply)]
    )
    model_b = ScriptedModel(
        [[function_call("lookup", {"key": "b"}, call_id="B")], reply("reply B")]
    )
    with open_store(store_location) as store_a, open_store(store_location) as store_b:
        session_a = store_a.session("sara", "shared")
        session_b = session_a if one_object else store_b.session("sara", "shared")
        agent_a: Agent[None] = Agent(name="a", model=model_a, tools=[lookup])
        agent_b: Agent[None] = Agent(name="b", model=model_b, tools=[lookup])
        run_a = asyncio.create_task(Runner.run(agent_a, "user A", session=session_a))
        await asyncio.wait_for(first_step_done.wait(), 5)
        await Runner.run(agent_b, "user B", session=session_b)
        b_done.set()
        await run_a

        info = session_a.info
        assert stored_turns(store_a, info) == [
            ["user A", "call:A", "out:A", "reply A"],
            ["user B", "call:B", "out:B", "reply B"],
        ]
        # B's model saw A's turn as it stood when B started: whole steps, in order.
        assert model_b.first_call is not None
        assert labels(model_b.first_call.input) == ["user A", "call:A", "out:A", "user B"]
        await session_a.pop_turn()
        assert stored_turns(store_a, info) == [["user A", "call:A", "out:A", "reply A"]]


async def test_a_run_whose_model_returns_nothing_keeps_its_input(store: Store) -> None:
    """The run returns normally with no output: its input stays, as with SQLiteSession."""
    session = store.session("sara")
    result = await Runner.run(Agent(name="a", model=ScriptedModel([[]])), "hello", session=session)
    assert result.final_output == ""
    assert await session.get_items() == [{"role": "user", "content": "hello"}]
    assert await store.session("sara").get_items() == [{"role": "user", "content": "hello"}]


async def test_session_id_reopens_the_session(store: Store) -> None:
    """``store.session(user, s.session_id)`` is the same session, as the SDK's own code
    (its human-in-the-loop tests) reopens a session by its ``session_id``."""
    session = store.session("u", "abc")
    await Runner.run(
        Agent(name="a", model=ScriptedModel([reply("Hi Sara")])), "I'm Sara", session=session
    )
    reopened = store.session("u", session.session_id)
    assert reopened.info == store.get_session("u", "abc")
    model = ScriptedModel([reply("You are Sara")])
    await Runner.run(Agent(name="a", model=model), "Who am I?", session=reopened)
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == ["I'm Sara", "Hi Sara", "Who am I?"]


async def test_an_approval_resumed_on_a_reopened_session_completes_its_own_turn(
    store: Store,
) -> None:
    """Human in the loop: the run stops for an approval, a reopened session resumes it,
    and the whole exchange is one turn, after a turn that came in between."""

    @function_tool(needs_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    model = ScriptedModel(
        [[function_call("delete_file", {"path": "a.txt"}, call_id="D")], reply("Done.")]
    )
    agent: Agent[None] = Agent(name="a", model=model, tools=[delete_file])
    session = store.session("u", "hitl")
    first = await Runner.run(agent, "delete a.txt", session=session)
    assert len(first.interruptions) == 1
    # Another conversation step lands before the approval (another process, say).
    await Runner.run(
        Agent(name="b", model=ScriptedModel([reply("It is noon.")])),
        "what time is it?",
        session=store.session("u", "hitl"),
    )
    state = first.to_state()
    state.approve(first.interruptions[0])
    resumed = await Runner.run(agent, state, session=store.session("u", session.session_id))
    assert resumed.final_output == "Done."
    assert stored_turns(store, session.info) == [
        ["delete a.txt", "call:D", "out:D", "Done."],
        ["what time is it?", "It is noon."],
    ]


# A window cut by ``limit`` can start between a call and its output. Both the store and the
# session leave such an output out, each for the items it has: the store for a window of
# stored items, the session for its buffered items and where they meet the stored ones.


def call_item(call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def output_item(call_id: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": "42"}


def answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "type": "message", "content": text}


def test_a_stored_window_never_starts_with_an_orphan_output(store: Store) -> None:
    info = store.ensure_session("sara", "s")
    store.commit_turn(info, [user_message("q"), call_item("c1"), output_item("c1"), answer("a")])
    assert store.get_items(info, 2) == [answer("a")]
    assert store.get_items(info, 3) == [call_item("c1"), output_item("c1"), answer("a")]


async def test_a_buffered_window_never_starts_with_an_orphan_output(store: Store) -> None:
    session = store.session("sara", "s")
    async with session.turn():
        await session.add_items([user_message("q"), call_item("c1"), output_item("c1")])
        await session.add_items([answer("a")])
        assert await session.get_items(2) == [answer("a")]
        assert await session.get_items(3) == [call_item("c1"), output_item("c1"), answer("a")]


async def test_an_output_buffered_for_a_call_stored_outside_the_window_is_left_out(
    store: Store,
) -> None:
    # A resumed run (an approval) answers a call the stored turn ended with.
    session = store.session("sara", "s")
    store.commit_turn(session.info, [user_message("q"), call_item("c1"), answer("approve?")])
    async with session.turn():
        await session.add_items([output_item("c1")])
        assert await session.get_items(2) == [answer("approve?")]
        assert await session.get_items(3) == [
            call_item("c1"),
            answer("approve?"),
            output_item("c1"),
        ]
