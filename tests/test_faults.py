"""Model faults mid-turn: the history stays exactly as it was, the error says so, retry works.

Each fault hits a session that already holds a turn, so "nothing stored" means "nothing
changed", and each retry checks what the model was given: the old history and the message,
without an orphan of the failed attempt.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, function_tool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.testing.model import ModelCall, _stream_events_for_step
from click.testing import CliRunner, Result

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import ModelCallFailed
from memchat.models import ModelChoice
from memchat.store import MemchatSession, SQLiteStore, Store

from .helpers import reply, texts_of

REPLY = "Hello there, Sara. Nice to see you again."
FIRST_TURN = ["My name is Sara", "Hi Sara"]


def stream_events(text: str) -> list[Any]:
    """The events of a real streamed reply (the SDK's own), one text delta per word."""
    # _stream_events_for_step is how ScriptedModel streams a step; the SDK is pinned <0.25.
    step = ModelStep(output=[assistant_message(text)])
    events: list[Any] = []
    for event in _stream_events_for_step(step, preserve_raw_usage=False):
        if event.type == "response.output_text.delta":
            words = re.findall(r"\S+\s*", event.delta)
            events += [event.model_copy(update={"delta": word}) for word in words]
        else:
            events.append(event)
    return events


# created, in_progress, output_item.added, content_part.added, then two words of the reply
HALFWAY = 6


def cut_stream(fault: Callable[[], Awaitable[None]], keep: int = HALFWAY) -> ModelStep:
    """A model step that streams ``keep`` real events, then meets ``fault``."""

    async def stream(call: ModelCall) -> AsyncIterator[Any]:
        for event in stream_events(REPLY)[:keep]:
            # Events arrive over a network: the reader gets each before the next (and before
            # the fault; the SDK raises a stream's error at once, ahead of queued events).
            await asyncio.sleep(0.005)
            yield event
        await asyncio.sleep(0.005)
        await fault()

    return ModelStep.stream(stream)


async def connection_reset() -> None:
    raise ConnectionResetError("connection reset by peer")


async def hang() -> None:
    await asyncio.sleep(3600)


async def sigint() -> None:
    """A real Ctrl-C: SIGINT to this process, as the terminal sends it."""
    signal.raise_signal(signal.SIGINT)
    await asyncio.sleep(3600)


async def others_ended() -> None:
    """Wait (at most 5 s) until every task of the event loop but this one has ended: an
    abandoned run's background work too, so that a late write of it would have been made."""
    this = asyncio.current_task()
    async with asyncio.timeout(5):
        # Polled: the SDK's tasks are its own, with nothing to wait on from outside.
        while any(task is not this for task in asyncio.all_tasks()):  # noqa: ASYNC110
            await asyncio.sleep(0.001)


def turns_of(store: Store, session: MemchatSession) -> list[list[str]]:
    return [texts_of(turn.items) for turn in store.get_turns(session.info)]


async def seeded(store: Store) -> MemchatSession:
    """A session holding one turn."""
    session = store.session("sara")
    chat = Chat(Agent(name="a", model=ScriptedModel([reply(FIRST_TURN[1])])))
    await chat.run_turn(session, FIRST_TURN[0])
    return session


async def retry_works(store: Store, session: MemchatSession) -> None:
    """After a fault the same message goes through, and the model sees the old history."""
    model = ScriptedModel([reply("Hello again")])
    await Chat(Agent(name="a", model=model)).run_turn(session, "hello")
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [*FIRST_TURN, "hello"]
    assert turns_of(store, session) == [FIRST_TURN, ["hello", "Hello again"]]
    assert store.get_session("sara", session.info.id).turn_count == 2


# -- through the library -------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [RuntimeError("boom"), TimeoutError("read timed out"), ConnectionResetError("reset")],
    ids=lambda e: type(e).__name__,
)
async def test_model_error_changes_nothing(store: Store, error: Exception) -> None:
    session = await seeded(store)
    chat = Chat(Agent(name="a", model=ScriptedModel([error])))
    with pytest.raises(ModelCallFailed) as failed:
        await chat.run_turn(session, "hello")
    assert str(failed.value) == (
        f"the model call failed ({type(error).__name__}: {error}); nothing was saved, try again"
    )
    assert turns_of(store, session) == [FIRST_TURN]
    await retry_works(store, session)


async def test_stream_cut_halfway_changes_nothing(store: Store) -> None:
    session = await seeded(store)
    chat = Chat(Agent(name="a", model=ScriptedModel([cut_stream(connection_reset)])))
    shown: list[str] = []
    with pytest.raises(ModelCallFailed, match=r"ConnectionResetError: connection reset by peer"):
        async for chunk in chat.stream_turn(session, "hello"):
            assert isinstance(chunk, str)  # the turn failed: no result comes
            shown.append(chunk)
    assert "".join(shown) == "Hello there, "  # the user saw half a reply ...
    assert turns_of(store, session) == [FIRST_TURN]  # ... and none of it was kept
    await retry_works(store, session)


@pytest.mark.parametrize("keep", [0, HALFWAY], ids=["before-output", "mid-stream"])
async def test_timeout_changes_nothing(store: Store, keep: int) -> None:
    session = await seeded(store)
    chat = Chat(Agent(name="a", model=ScriptedModel([cut_stream(hang, keep)])))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(chat.run_turn(session, "hello"), 0.3)
    await others_ended()  # nothing of the abandoned run writes late either
    assert turns_of(store, session) == [FIRST_TURN]
    await retry_works(store, session)


async def test_cancelled_mid_stream_changes_nothing(store: Store) -> None:
    session = await seeded(store)
    chat = Chat(Agent(name="a", model=ScriptedModel([cut_stream(hang)])))
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async for _ in chat.stream_turn(session, "hello"):
            first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert turns_of(store, session) == [FIRST_TURN]
    await retry_works(store, session)


def test_sigint_mid_stream_changes_nothing(store: Store) -> None:
    """Ctrl-C: asyncio.run cancels the turn and raises KeyboardInterrupt; nothing is kept."""
    session = asyncio.run(seeded(store))
    chat = Chat(Agent(name="a", model=ScriptedModel([cut_stream(sigint)])))
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(chat.run_turn(session, "hello"))
    assert turns_of(store, session) == [FIRST_TURN]
    asyncio.run(retry_works(store, session))


def test_keyboard_interrupt_while_showing_the_reply_changes_nothing(store: Store) -> None:
    """Without asyncio.run's handler, Ctrl-C raises wherever the main thread is.

    On PostgreSQL the turn's lock is given back too, though the turn is closed from
    another context as asyncio.run shuts down (the retry used to wait for ever).
    """
    session = asyncio.run(seeded(store))
    chat = Chat(Agent(name="a", model=ScriptedModel([cut_stream(hang)])))

    async def show() -> None:
        async for _ in chat.stream_turn(session, "hello"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(show())
    assert turns_of(store, session) == [FIRST_TURN]
    asyncio.run(retry_works(store, session))


async def test_failure_after_a_tool_ran_keeps_no_tool_items(store: Store) -> None:
    """The turn's first model call and its tool succeeded; the second call fails."""
    ran: list[str] = []

    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        ran.append(key)
        return f"value of {key}"

    model = ScriptedModel(
        [[function_call("lookup", {"key": "k"}, call_id="c1")], RuntimeError("model down")]
    )
    session = await seeded(store)
    with pytest.raises(ModelCallFailed, match="model down"):
        await Chat(Agent(name="a", model=model, tools=[lookup])).run_turn(session, "look up k")
    assert ran == ["k"]
    assert turns_of(store, session) == [FIRST_TURN]
    await retry_works(store, session)


# -- through the terminal ------------------------------------------------------------------


def memchat(model: ScriptedModel, *args: str, input: str | None = None) -> Result:
    app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
    return CliRunner().invoke(cli, list(args), obj=app, input=input)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (ModelStep.raise_error(RuntimeError("upstream 502")), "model call failed (RuntimeError"),
        (cut_stream(connection_reset), "model call failed (ConnectionResetError"),
        (cut_stream(sigint), "interrupted: nothing was saved; /retry sends it again"),
    ],
    ids=["error", "stream-cut", "SIGINT"],
)
def test_repl_reports_the_fault_and_retry_stores_the_turn_once(
    db_path: Path, fault: ModelStep, message: str
) -> None:
    model = ScriptedModel([reply("Hi Sara"), fault, reply("Hello again")])
    script = "My name is Sara\nhello\n/retry\n"
    result = memchat(model, "--db", str(db_path), "chat", "-u", "sara", input=script)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert message in result.output
    assert "/retry sends it again" in result.output
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [*FIRST_TURN, "hello"]
    with SQLiteStore(db_path) as store:
        (info,) = store.list_sessions("sara")
        assert [texts_of(t.items) for t in store.get_turns(info)] == [
            FIRST_TURN,
            ["hello", "Hello again"],
        ]


def test_ask_interrupted_mid_stream_says_aborted_and_stores_nothing(db_path: Path) -> None:
    model = ScriptedModel([cut_stream(sigint)])
    result = memchat(model, "--db", str(db_path), "ask", "-u", "sara", "hello")
    assert result.exit_code == 1
    assert "Aborted!" in result.output and "Traceback" not in result.output
    with SQLiteStore(db_path) as store:
        assert all(info.turn_count == 0 for info in store.list_sessions("sara"))
