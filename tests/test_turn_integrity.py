"""A broken model answer is no turn: a cut-off stream, an empty one, or a 200 that is not
JSON stores nothing, and every interface says so (an ``error`` event, a non-zero exit).

The model is reached over HTTP, from a scripted OpenAI-compatible server (MEMCHAT_BASE_URL),
through the same model memchat builds from the configuration. Each session already holds
a turn, so "nothing stored" means "nothing changed", and each fault is followed by a retry
that must see the old history and the message, without an orphan of the failed attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel
from click.testing import CliRunner, Result

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.config import load_settings
from memchat.errors import IncompleteAnswer, ModelCallFailed
from memchat.models import resolve_model
from memchat.server import create_app
from memchat.store import SQLiteStore, Store

from .helpers import reply, texts_of
from .openai_server import (
    Answer,
    OpenAIServer,
    complete,
    cut_off,
    empty_stream,
    hang,
    not_json,
    server_error,
)
from .server_harness import add_user, client, sse_events

FIRST_TURN = ["My name is Sara", "Hi Sara"]

FAULTS = {
    "cut-off": (
        cut_off("Hello there, Sara. Nice to"),
        "the model's answer was cut off: its stream ended before a finish_reason; "
        "nothing was saved, try again",
    ),
    "empty-stream": (
        empty_stream(),
        "the model server's response held no answer (text/event-stream); "
        "nothing was saved, try again",
    ),
    "not-json": (
        not_json(),
        "the model server's response held no answer (text/html); nothing was saved, try again",
    ),
}

fault_cases = pytest.mark.parametrize(("fault", "message"), FAULTS.values(), ids=FAULTS.keys())


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    """The scripted server, configured as memchat's model; tests script its answers."""
    with OpenAIServer() as server:
        monkeypatch.setenv("MEMCHAT_BASE_URL", server.url)
        monkeypatch.setenv("MEMCHAT_MODEL", "test-model")
        # The memory tools would change what the requests hold, not what is stored.
        monkeypatch.setenv("MEMCHAT_MEMORY_TOOLS", "false")
        yield server


def script(server: OpenAIServer, *answers: Answer) -> None:
    server.answers.extend(answers)


def conversation(request: dict[str, Any]) -> list[str]:
    """The user and assistant messages a chat completions request sent, in order."""
    return [
        message["content"]
        for message in request["messages"]
        if message["role"] in ("user", "assistant")
    ]


def stored(store: Store, user: str) -> list[list[str]]:
    """The text of every stored turn of the user's only session."""
    (info,) = store.list_sessions(user)
    return [texts_of(turn.items) for turn in store.get_turns(info)]


# -- over the HTTP API ---------------------------------------------------------------------


def send(http: Any, headers: dict[str, str], text: str) -> list[tuple[str, Any]]:
    response = http.post("/api/sessions/default/messages", json={"text": text}, headers=headers)
    assert response.status_code == 200, response.text
    return sse_events(response.text)


@fault_cases
def test_api_turn_with_a_broken_answer_sends_error_and_stores_nothing(
    upstream: OpenAIServer, store: Store, fault: Answer, message: str
) -> None:
    headers = add_user(store, "sara")
    store.create_session("sara", "default")
    script(upstream, complete("Hi Sara"), fault, complete("Hello again"))
    with client(create_app(store=store)) as http:
        assert send(http, headers, "My name is Sara")[-1][0] == "done"

        events = send(http, headers, "hello")
        assert events[-1] == (
            "error",
            {"error": {"code": "incomplete_answer", "message": message}},
        )
        assert "done" not in [name for name, _ in events]
        assert stored(store, "sara") == [FIRST_TURN]
        assert store.get_session("sara", "default").turn_count == 1

        assert [name for name, _ in send(http, headers, "hello")][-1] == "done"
    assert conversation(upstream.requests[-1]) == [*FIRST_TURN, "hello"]
    assert stored(store, "sara") == [FIRST_TURN, ["hello", "Hello again"]]


# -- through the command line --------------------------------------------------------------


def memchat(db_path: Path, *args: str, input: str | None = None) -> Result:
    """Run the CLI as a user would: its model is the one the environment configures."""
    return CliRunner().invoke(cli, ["--db", str(db_path), *args], obj=App(), input=input)


@fault_cases
def test_ask_with_a_broken_answer_exits_non_zero_and_stores_nothing(
    upstream: OpenAIServer, db_path: Path, fault: Answer, message: str
) -> None:
    script(upstream, complete("Hi Sara"), fault, complete("Hello again"))
    first = memchat(db_path, "ask", "-u", "sara", "My name is Sara")
    assert first.exit_code == 0, first.output
    assert first.stdout == "Hi Sara\n"

    failed = memchat(db_path, "ask", "-u", "sara", "hello")
    assert failed.exit_code == 1
    assert failed.stderr.endswith(f"Error: {message}\n")
    assert "Traceback" not in failed.output
    with SQLiteStore(db_path) as store:
        assert stored(store, "sara") == [FIRST_TURN]

    retry = memchat(db_path, "ask", "-u", "sara", "hello")
    assert retry.exit_code == 0, retry.output
    assert conversation(upstream.requests[-1]) == [*FIRST_TURN, "hello"]
    with SQLiteStore(db_path) as store:
        assert stored(store, "sara") == [FIRST_TURN, ["hello", "Hello again"]]


@fault_cases
def test_terminal_chat_with_a_broken_answer_shows_the_error_and_stores_nothing(
    upstream: OpenAIServer, db_path: Path, fault: Answer, message: str
) -> None:
    script(upstream, complete("Hi Sara"), fault, complete("Hello again"))
    result = memchat(db_path, "chat", "-u", "sara", input="My name is Sara\nhello\n")
    assert result.exit_code == 0, result.output
    assert f"error: {message} (/retry sends it again)" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    with SQLiteStore(db_path) as store:
        assert stored(store, "sara") == [FIRST_TURN]

    result = memchat(db_path, "chat", "-u", "sara", input="hello\n")
    assert result.exit_code == 0, result.output
    assert conversation(upstream.requests[-1]) == [*FIRST_TURN, "hello"]
    with SQLiteStore(db_path) as store:
        assert stored(store, "sara") == [FIRST_TURN, ["hello", "Hello again"]]


async def test_an_answer_that_finished_is_stored_without_done(
    upstream: OpenAIServer, store: Store
) -> None:
    """The finish_reason says the answer is whole; a stream cut before ``[DONE]`` is fine."""
    script(upstream, complete("Hi Sara", done=False))
    chat = Chat(Agent(name="a", model=resolve_model(load_settings()).model))
    assert (await chat.run_turn(store.session("sara"), "My name is Sara")).reply == "Hi Sara"
    assert stored(store, "sara") == [FIRST_TURN]


# -- through the library, with any model ----------------------------------------------------


async def test_an_answer_without_output_is_no_turn(store: Store) -> None:
    """Whatever the model, an answer with no output items at all is not stored."""
    session = store.session("sara")
    chat = Chat(Agent(name="a", model=ScriptedModel([reply("Hi Sara"), [], reply("Hello")])))
    await chat.run_turn(session, "My name is Sara")
    with pytest.raises(IncompleteAnswer, match=r"^the model gave no answer; nothing was saved"):
        await chat.run_turn(session, "hello")
    assert stored(store, "sara") == [FIRST_TURN]
    assert (await chat.run_turn(session, "hello")).reply == "Hello"
    assert stored(store, "sara") == [FIRST_TURN, ["hello", "Hello"]]


# -- a model server that hangs or fails ----------------------------------------------------


async def _failing_turn_then_a_good_one(
    upstream: OpenAIServer, store: Store, *answers: Answer
) -> tuple[ModelCallFailed, float]:
    """Run a turn against ``answers`` (which must fail it), then one that works at once;
    return the failure and how long it took."""
    settings = load_settings()
    chat = Chat.from_settings(settings, resolve_model(settings), store)
    session = store.session("sara", "default")
    script(upstream, *answers, complete("Hello again"))
    started = time.monotonic()
    with pytest.raises(ModelCallFailed) as failed:
        # The bound keeps the test short whatever happens: the client's default waited
        # 600 s per attempt.
        await asyncio.wait_for(chat.run_turn(session, "hello"), 30)
    took = time.monotonic() - started
    assert len(upstream.requests) == 2  # one retry, no more
    assert store.get_turns(session.info) == []
    # The session's lock went with the failed turn: it is free, and a turn runs at once.
    async with asyncio.timeout(1), store.turn_lock(session.info):
        pass
    assert (await asyncio.wait_for(chat.run_turn(session, "hello"), 5)).reply == "Hello again"
    return failed.value, took


async def test_a_model_server_that_never_answers_fails_the_turn_within_the_timeout(
    upstream: OpenAIServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_MODEL_TIMEOUT", "1")
    error, took = await _failing_turn_then_a_good_one(upstream, store, hang(), hang())
    assert "APITimeoutError" in str(error) and "nothing was saved" in str(error)
    # Two waits of 1 s, and the client's back-off (under 1 s) between them.
    assert 2 <= took < 5, took


async def test_a_server_error_is_retried_once(upstream: OpenAIServer, store: Store) -> None:
    error, took = await _failing_turn_then_a_good_one(
        upstream, store, server_error(), server_error()
    )
    assert "InternalServerError" in str(error) and "upstream exploded" in str(error)
    assert took < 5, took


def test_openai_clients_wait_the_timeout_and_retry_once() -> None:
    env = {"MEMCHAT_HOME": "/tmp/memchat-test-home"}
    openai = {"OPENAI_API_KEY": "sk-test"}
    compatible = {"MEMCHAT_BASE_URL": "http://x/v1", "MEMCHAT_MODEL": "m"}
    for extra in (openai, compatible):
        default = resolve_model(load_settings(env={**env, **extra})).model
        given = resolve_model(load_settings(env={**env, **extra, "MEMCHAT_MODEL_TIMEOUT": "7"}))
        for model, seconds in ((default, 60.0), (given.model, 7.0)):
            client = model._client  # type: ignore[attr-defined]
            assert (client.timeout, client.max_retries) == (seconds, 1)
