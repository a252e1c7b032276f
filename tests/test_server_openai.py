"""The OpenAI-compatible API under /v1, driven by the `openai` package itself (sync and
async, streaming and not) against a live server, on every store backend."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from agents.testing import ModelStep, ScriptedModel, function_call

from memchat.config import load_settings
from memchat.memory.tokens import estimate_tokens
from memchat.store import Store

from .helpers import reply, system_notes, texts_of
from .server_harness import Gate, LiveServer, add_user, scripted_app, wait_for


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def store(any_store: Store) -> Store:
    """Each backend in turn (PostgreSQL where MEMCHAT_TEST_POSTGRES_URL names one)."""
    return any_store


@pytest.fixture
def live(store: Store, model: ScriptedModel) -> Iterator[LiveServer]:
    with LiveServer(scripted_app(store, model)) as server:
        yield server


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def client_for(live: LiveServer, store: Store, name: str) -> openai.OpenAI:
    key = token_of(add_user(store, name))
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=10)


def turns_of(store: Store, user: str, session_id: str) -> list[list[str]]:
    return [texts_of(turn.items) for turn in store.get_turns(store.get_session(user, session_id))]


def v1_sessions(store: Store, user: str) -> list[str]:
    return sorted(s.id for s in store.list_sessions(user) if s.id.startswith("v1-"))


def test_models_lists_memchat_and_the_configured_model(live: LiveServer, store: Store) -> None:
    api = client_for(live, store, "sara")
    assert [m.id for m in api.models.list()] == ["memchat", "test"]


def test_a_resent_conversation_continues_its_session_and_stores_only_the_new_turn(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    api = client_for(live, store, "sara")
    model.extend([reply("Hello Sara!"), reply("Blue, you said.")])
    first = [{"role": "user", "content": "My name is Sara and I like blue"}]
    answer = api.chat.completions.create(model="memchat", messages=first)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hello Sara!"
    assert answer.choices[0].finish_reason == "stop"
    # Token counts by memchat's counter: the context the model was given, and the reply.
    first_usage = answer.usage
    assert first_usage is not None
    assert first_usage.completion_tokens == estimate_tokens("Hello Sara!")
    assert first_usage.prompt_tokens > estimate_tokens("My name is Sara and I like blue")
    assert first_usage.total_tokens == first_usage.prompt_tokens + first_usage.completion_tokens

    second = [
        *first,
        {"role": "assistant", "content": "Hello Sara!"},
        {"role": "user", "content": "What colour?"},
    ]
    answer = api.chat.completions.create(model="test", messages=second)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Blue, you said."
    # The second turn's context holds the first turn as well.
    assert answer.usage is not None and answer.usage.prompt_tokens > first_usage.total_tokens
    [session_id] = v1_sessions(store, "sara")
    assert turns_of(store, "sara", session_id) == [
        ["My name is Sara and I like blue", "Hello Sara!"],
        ["What colour?", "Blue, you said."],
    ]
    # The model got memchat's context (its stored turns), not a second copy of the history.
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [
        "My name is Sara and I like blue",
        "Hello Sara!",
        "What colour?",
    ]


def test_a_new_conversation_knows_what_the_user_said_in_an_old_one(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    api = client_for(live, store, "sara")
    model.extend([reply("Nice to meet you."), reply("Sara.")])
    api.chat.completions.create(
        model="memchat", messages=[{"role": "user", "content": "My name is Sara"}]
    )
    api.chat.completions.create(
        model="memchat", messages=[{"role": "user", "content": "What's my name?"}]
    )
    assert len(v1_sessions(store, "sara")) == 2
    assert model.last_call is not None
    assert "Sara" in system_notes(model.last_call.input)
    assert texts_of(model.last_call.input)[-1] == "What's my name?"


def test_streaming_sends_chunks_a_finish_reason_usage_and_done(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    api = client_for(live, store, "sara")
    model.extend([reply("Streamed hello")])
    chunks = list(
        api.chat.completions.create(
            model="memchat",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streamed hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert usage.completion_tokens == estimate_tokens("Streamed hello")
    assert usage.prompt_tokens > estimate_tokens("Hi")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    [session_id] = v1_sessions(store, "sara")
    assert turns_of(store, "sara", session_id) == [["Hi", "Streamed hello"]]


async def test_the_async_client_streams_and_answers(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    key = token_of(add_user(store, "sara"))
    model.extend([reply("One"), reply("Two")])
    async with openai.AsyncOpenAI(
        base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=10
    ) as api:
        answer = await api.chat.completions.create(
            model="memchat", messages=[{"role": "user", "content": "First"}]
        )
        assert answer.choices[0].message.content == "One"
        stream = await api.chat.completions.create(
            model="memchat",
            messages=[
                {"role": "user", "content": "First"},
                {"role": "assistant", "content": "One"},
                {"role": "user", "content": "Second"},
            ],
            stream=True,
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "Two"
    [session_id] = v1_sessions(store, "sara")
    assert len(turns_of(store, "sara", session_id)) == 2


def test_an_edited_earlier_message_branches_and_leaves_the_session_whole(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    api = client_for(live, store, "sara")
    model.extend([reply("A1"), reply("A2"), reply("A2 edited")])
    history: list[Any] = [{"role": "user", "content": "Q1"}]
    api.chat.completions.create(model="memchat", messages=history)
    history += [{"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    api.chat.completions.create(model="memchat", messages=history)
    [original] = v1_sessions(store, "sara")

    # The client edits Q2 and sends the conversation again from there.
    edited = [*history[:2], {"role": "user", "content": "Q2, edited"}]
    api.chat.completions.create(model="memchat", messages=edited)
    assert v1_sessions(store, "sara") == [original, f"{original}-2"]
    assert turns_of(store, "sara", original) == [["Q1", "A1"], ["Q2", "A2"]]
    assert turns_of(store, "sara", f"{original}-2") == [["Q1", "A1"], ["Q2, edited", "A2 edited"]]


def test_a_client_given_session_and_the_client_system_message(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    api = client_for(live, store, "sara")
    model.extend([reply("Ahoy"), reply("Aye")])
    messages: Any = [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "Hello"},
    ]
    raw = api.chat.completions.with_raw_response.create(
        model="memchat", messages=messages, extra_headers={"X-Memchat-Session": "pirate"}
    )
    assert raw.headers["X-Memchat-Session"] == "pirate"
    assert model.last_call is not None
    assert "Talk like a pirate." in str(model.last_call.system_instructions)
    api.chat.completions.create(
        model="memchat",
        messages=[{"role": "user", "content": "Again"}],
        metadata={"session_id": "pirate"},
    )
    assert turns_of(store, "sara", "pirate") == [["Hello", "Ahoy"], ["Again", "Aye"]]


def test_users_reach_only_their_own_sessions(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    sara, ali = client_for(live, store, "sara"), client_for(live, store, "ali")
    model.extend([reply("For Sara"), reply("For Ali")])
    same: Any = [{"role": "user", "content": "My secret is 42"}]
    sara.chat.completions.create(model="memchat", messages=same)
    ali.chat.completions.create(
        model="memchat", messages=[{"role": "user", "content": "What is my secret?"}]
    )
    assert model.last_call is not None
    assert "42" not in str(model.last_call.input)
    # Ali naming Sara's session gets a session of his own by that id.
    [sara_session] = v1_sessions(store, "sara")
    model.extend([reply("Still Ali")])
    ali.chat.completions.create(
        model="memchat", messages=same, extra_headers={"X-Memchat-Session": sara_session}
    )
    assert turns_of(store, "sara", sara_session) == [["My secret is 42", "For Sara"]]
    assert turns_of(store, "ali", sara_session) == [["My secret is 42", "Still Ali"]]


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "code"} <= set(body["error"])
    return dict(body["error"])


def test_a_bad_key_is_a_401_in_openai_shape(live: LiveServer) -> None:
    api = openai.OpenAI(base_url=f"{live.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        api.models.list()
    assert error_of(caught.value)["code"] == "invalid_api_key"


def test_an_unknown_model_is_a_404(live: LiveServer, store: Store) -> None:
    api = client_for(live, store, "sara")
    with pytest.raises(openai.NotFoundError) as caught:
        api.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert error_of(caught.value)["code"] == "model_not_found"
    assert store.list_sessions("sara") == []


def test_too_large_is_a_413(store: Store, model: ScriptedModel) -> None:
    settings = load_settings().with_overrides(max_input_chars=10)
    with LiveServer(scripted_app(store, model, settings, max_body_bytes=2000)) as live:
        api = client_for(live, store, "sara")
        for text in ("a message over ten characters", "x" * 5000):
            with pytest.raises(openai.APIStatusError) as caught:
                api.chat.completions.create(
                    model="memchat", messages=[{"role": "user", "content": text}]
                )
            assert caught.value.status_code == 413
            assert error_of(caught.value)["type"] == "invalid_request_error"
    assert store.list_sessions("sara") == []


def test_over_the_rate_limit_a_429_with_retry_after(
    store: Store, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_RATE_LIMIT", "1/hour")
    model.extend([reply("one")])
    with LiveServer(scripted_app(store, model)) as live:
        api = client_for(live, store, "sara")
        messages: Any = [{"role": "user", "content": "a"}]
        api.chat.completions.create(model="memchat", messages=messages)
        with pytest.raises(openai.RateLimitError) as caught:
            api.chat.completions.create(model="memchat", messages=messages)
    assert error_of(caught.value)["code"] == "rate_limit_exceeded"
    assert 3000 < int(caught.value.response.headers["Retry-After"]) <= 3600


def test_a_failed_model_turn_stores_nothing(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    api = client_for(live, store, "sara")
    model.extend(
        [
            ModelStep.raise_error(RuntimeError("upstream down")),
            ModelStep.raise_error(RuntimeError("upstream down")),
        ]
    )
    messages: Any = [{"role": "user", "content": "Hello"}]
    with pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="memchat", messages=messages)
    assert caught.value.status_code == 502
    assert error_of(caught.value)["type"] == "server_error"
    with pytest.raises(openai.APIError):
        list(api.chat.completions.create(model="memchat", messages=messages, stream=True))
    for session_id in v1_sessions(store, "sara"):
        assert turns_of(store, "sara", session_id) == []


def test_a_malformed_request_is_a_400(live: LiveServer, store: Store) -> None:
    headers = add_user(store, "sara")
    answer = httpx.post(
        f"{live.url}/v1/chat/completions",
        json={"model": "memchat", "messages": []},
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_two_copies_of_one_request_store_one_turn(
    live: LiveServer, store: Store, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second copy waits for the session, then finds it changed: a 409, not a turn
    after a reply its client never saw."""
    api = client_for(live, store, "sara")
    # Who has asked for a session's lock: the second copy asks while the first holds it.
    asked: list[str] = []
    turn_lock = store.turn_lock

    def counted_lock(info: Any) -> Any:
        asked.append(info.id)
        return turn_lock(info)

    monkeypatch.setattr(store, "turn_lock", counted_lock)
    gate = Gate("The first copy's reply")
    model.extend([gate.step(), reply("unused")])
    messages: Any = [{"role": "user", "content": "Hello"}]
    first = threading.Thread(
        target=lambda: api.chat.completions.create(model="memchat", messages=messages)
    )
    first.start()
    assert wait_for(gate.reached.is_set)
    outcome: list[Any] = []

    def second() -> None:
        try:
            api.chat.completions.create(model="memchat", messages=messages)
        except openai.APIStatusError as exc:
            outcome.append(exc)

    other = threading.Thread(target=second)
    other.start()
    assert wait_for(lambda: len(asked) == 2), "the second copy did not reach the session"
    gate.open.set()
    first.join(timeout=10)
    other.join(timeout=10)
    [refused] = outcome
    assert refused.status_code == 409
    [session_id] = v1_sessions(store, "sara")
    assert turns_of(store, "sara", session_id) == [["Hello", "The first copy's reply"]]


WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_client_tools_pass_through_and_the_turn_is_stored_once_answered(
    live: LiveServer, store: Store, model: ScriptedModel, stream: bool
) -> None:
    api = client_for(live, store, "sara")
    model.extend(
        [[function_call("weather", {"city": "Porto"}, call_id="w1")], reply("Sunny in Porto.")]
    )
    messages: list[Any] = [{"role": "user", "content": "Weather in Porto?"}]
    if stream:
        chunks: list[Any] = list(
            api.chat.completions.create(
                model="memchat", messages=messages, tools=[WEATHER], stream=True
            )
        )
        [called] = [
            c.choices[0].delta.tool_calls
            for c in chunks
            if c.choices and c.choices[0].delta.tool_calls
        ]
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        call_id, name, arguments = (
            called[0].id,
            called[0].function.name,
            called[0].function.arguments,
        )
    else:
        answer = api.chat.completions.create(model="memchat", messages=messages, tools=[WEATHER])
        finish = answer.choices[0].finish_reason
        [call] = answer.choices[0].message.tool_calls or []
        call_id, name, arguments = call.id, call.function.name, call.function.arguments  # type: ignore[union-attr]
    assert finish == "tool_calls"
    assert (call_id, name, json.loads(arguments or "{}")) == ("w1", "weather", {"city": "Porto"})
    assert model.last_call is not None
    assert "weather" in [tool.name for tool in model.last_call.tools]
    # Nothing is stored until the client sends the result.
    assert all(turns_of(store, "sara", s) == [] for s in v1_sessions(store, "sara"))

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny, 24 C"},
    ]
    answer = api.chat.completions.create(model="memchat", messages=messages, tools=[WEATHER])
    assert answer.choices[0].message.content == "Sunny in Porto."
    assert "sunny, 24 C" in str(model.last_call.input)
    [session_id] = v1_sessions(store, "sara")
    [turn] = store.get_turns(store.get_session("sara", session_id))
    assert [item.get("type", "message") for item in turn.items][:3] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert texts_of(turn.items)[-1] == "Sunny in Porto."
