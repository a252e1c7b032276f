"""Turn atomicity over HTTP, on a real socket: a client that leaves stores nothing, and
two tabs on one session take turns."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from agents.testing import ScriptedModel

from memchat.store import SessionInfo, Store

from .helpers import reply, texts_of
from .server_harness import Gate, LiveServer, add_user, iter_sse, scripted_app, wait_for


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


def post_message(url: str, headers: dict[str, str], text: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/sessions/default/messages", json={"text": text}, headers=headers, timeout=10
    )


def test_a_client_that_disconnects_mid_stream_leaves_no_turn(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    headers = add_user(store, "sara")
    info = store.create_session("sara", "default")
    gate = Gate("This reply will never be finished")
    model.extend([gate.step(), reply("Fresh start")])

    with (
        httpx.Client(base_url=live.url, headers=headers, timeout=10) as http,
        http.stream(
            "POST", "/api/sessions/default/messages", json={"text": "Tell me a story"}
        ) as response,
    ):
        assert response.status_code == 200
        name, data = next(iter_sse(response.iter_lines()))
        assert (name, data) == ("delta", {"text": "This reply will never be finished"})
        # Leaving the block closes the connection while the model is still "writing".

    assert wait_for(gate.aborted.is_set), "the server did not stop the abandoned turn"
    gate.open.set()
    assert store.get_turns(info) == []
    assert store.get_session("sara", "default").turn_count == 0

    # The session is free at once, and the next turn sees no trace of the abandoned one.
    events = list(iter_sse(post_message(live.url, headers, "Hello again").iter_lines()))
    assert [name for name, _ in events] == ["delta", "done"]
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == ["Hello again"]
    assert [texts_of(t.items) for t in store.get_turns(info)] == [["Hello again", "Fresh start"]]


def test_two_tabs_on_one_session_take_turns(
    live: LiveServer, store: Store, model: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = add_user(store, "sara")
    info = store.create_session("sara", "default")
    gate = Gate("First answer")
    model.extend([gate.step(), reply("Second answer")])
    results: dict[str, list[tuple[str, Any]]] = {}
    # Each turn's request for the session's lock, as it is made (before it is granted).
    asked: list[str] = []
    turn_lock = store.turn_lock

    @asynccontextmanager
    async def noted_turn_lock(session: SessionInfo) -> AsyncIterator[None]:
        asked.append(session.id)
        async with turn_lock(session):
            yield

    monkeypatch.setattr(store, "turn_lock", noted_turn_lock)

    def tab(name: str, text: str) -> None:
        results[name] = list(iter_sse(post_message(live.url, headers, text).iter_lines()))

    first = threading.Thread(target=tab, args=("first", "Question one"))
    first.start()
    assert gate.reached.wait(5)
    second = threading.Thread(target=tab, args=("second", "Question two"))
    second.start()
    # The second tab asks for the session while the first reply is still streaming, and
    # waits: its model call comes only after the first turn is stored.
    assert wait_for(lambda: len(asked) == 2), asked
    assert second.is_alive() and len(model.calls) == 1
    gate.open.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert [name for name, _ in results["first"]] == ["delta", "done"]
    assert [name for name, _ in results["second"]] == ["delta", "done"]
    assert [texts_of(t.items) for t in store.get_turns(info)] == [
        ["Question one", "First answer"],
        ["Question two", "Second answer"],
    ]
    # The second turn was assembled after the first was committed.
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == ["Question one", "First answer", "Question two"]


async def test_a_disconnect_is_heard_under_any_asgi_server(
    store: Store, model: ScriptedModel
) -> None:
    """Under ASGI 2.4 Starlette itself stops listening; the turn must still end at once."""
    headers = add_user(store, "sara")
    info = store.create_session("sara", "default")
    gate = Gate("Half a thought")
    model.enqueue(gate.step())
    app = scripted_app(store, model)
    body = b'{"text": "Think hard"}'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/sessions/default/messages",
        "raw_path": b"/api/sessions/default/messages",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", headers["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    first_delta = asyncio.Event()
    sent: list[MutableMapping[str, Any]] = []
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await first_delta.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if b"event: delta" in message.get("body", b""):
            first_delta.set()

    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    assert gate.aborted.is_set()
    assert sent[0]["status"] == 200
    assert store.get_turns(info) == []


def test_a_token_revoked_while_the_reply_streams_stores_nothing(
    live: LiveServer, store: Store, model: ScriptedModel
) -> None:
    headers = add_user(store, "sara")
    info = store.create_session("sara", "default")
    gate = Gate("A reply that outlives its token")
    model.extend([gate.step(), reply("Welcome back")])
    events: list[tuple[str, Any]] = []

    def send() -> None:
        events.extend(iter_sse(post_message(live.url, headers, "My name is Sara").iter_lines()))

    sender = threading.Thread(target=send)
    sender.start()
    assert gate.reached.wait(5)
    assert store.revoke_tokens("sara") == 1
    gate.open.set()
    sender.join(timeout=10)

    assert [name for name, _ in events] == ["delta", "error"]
    assert events[-1][1] == {
        "error": {
            "code": "unauthorized",
            "message": "the API token was revoked while the reply streamed; nothing was saved",
        }
    }
    assert store.get_turns(info) == []
    assert store.get_session("sara", "default").turn_count == 0
    assert store.list_facts("sara") == []

    # A new token works at once: the session's lock went with the failed turn.
    fresh = {"Authorization": f"Bearer {store.create_token('sara')}"}
    again = list(iter_sse(post_message(live.url, fresh, "Hello").iter_lines()))
    assert [name for name, _ in again] == ["delta", "done"]
