"""A session made with its first message (`create`), and a turn that replaces the last
(`replace_last`: regenerate, or edit and resend), over ``POST /api/sessions/{id}/messages``:
a session is kept only if its first turn is, and a replaced turn is gone from what the
model is given."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from agents.testing import ModelStep, ScriptedModel
from fastapi.testclient import TestClient

from memchat.store import Store

from .helpers import reply, texts_of, user_message
from .server_harness import (
    Gate,
    LiveServer,
    add_user,
    client,
    iter_sse,
    scripted_app,
    sse_events,
    wait_for,
)


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def store(any_store: Store) -> Store:
    """Each backend in turn (PostgreSQL where MEMCHAT_TEST_POSTGRES_URL names one)."""
    return any_store


@pytest.fixture
def http(store: Store, model: ScriptedModel) -> TestClient:
    return client(scripted_app(store, model))


def send(http: TestClient, headers: dict[str, str], session: str, **body: Any) -> Any:
    return http.post(f"/api/sessions/{session}/messages", json=body, headers=headers)


def test_a_session_made_with_its_first_message(
    http: TestClient, store: Store, model: ScriptedModel
) -> None:
    h = add_user(store, "sara")
    model.extend([reply("Hi Sara")])
    answer = send(http, h, "fresh1", text="My name is Sara", create=True)
    assert answer.status_code == 200
    events = sse_events(answer.text)
    assert events[-1][0] == "done"
    assert events[-1][1]["session"]["id"] == "fresh1"
    info = store.get_session("sara", "fresh1")
    assert texts_of(store.get_items(info)) == ["My name is Sara", "Hi Sara"]
    # Made once: the same id again is a conflict, and the model is not asked.
    again = send(http, h, "fresh1", text="again", create=True)
    assert again.status_code == 409
    assert len(model.calls) == 1


def test_a_first_turn_that_fails_leaves_no_session(
    http: TestClient, store: Store, model: ScriptedModel
) -> None:
    h = add_user(store, "sara")
    model.extend([ModelStep.raise_error(RuntimeError("upstream down"))])
    answer = send(http, h, "fresh2", text="Hello?", create=True)
    assert sse_events(answer.text)[-1][0] == "error"
    assert store.find_session("sara", "fresh2") is None
    assert store.list_sessions("sara") == []
    # Nor does one refused before it starts (over the message limit, say).
    assert send(http, h, "fresh3", text="x" * 10_000_000, create=True).status_code == 413
    assert store.find_session("sara", "fresh3") is None


def test_a_first_turn_the_client_leaves_leaves_no_session(
    store: Store, model: ScriptedModel
) -> None:
    h = add_user(store, "sara")
    gate = Gate("A reply never finished")
    model.extend([gate.step()])
    with (
        LiveServer(scripted_app(store, model)) as live,
        httpx.Client(base_url=live.url, headers=h, timeout=10) as http,
        http.stream(
            "POST", "/api/sessions/fresh4/messages", json={"text": "Hi", "create": True}
        ) as response,
    ):
        # Held, so that the response stays open (a dropped iterator closes it).
        events = iter_sse(response.iter_lines())
        assert next(events)[0] == "delta"
        assert store.find_session("sara", "fresh4") is not None
    assert gate.aborted.wait(5)
    assert wait_until_gone(store, "fresh4")


def wait_until_gone(store: Store, session: str) -> bool:
    return wait_for(lambda: store.find_session("sara", session) is None)


def assistant(text: str) -> dict[str, Any]:
    """An assistant message as the SDK stores one."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def test_replace_last_regenerates_and_edits_the_last_turn(
    http: TestClient, store: Store, model: ScriptedModel
) -> None:
    h = add_user(store, "sara")
    info = store.create_session("sara", "chat")
    store.commit_turn(info, [user_message("Pick a colour"), assistant("Red")])
    store.commit_turn(info, [user_message("Pick a fruit"), assistant("Apple")])
    model.extend([reply("Pear"), reply("Tea")])

    # Regenerate: the same message again; the old reply is not what the model is given.
    answer = send(http, h, "chat", text="Pick a fruit", replace_last=True)
    assert sse_events(answer.text)[-1][0] == "done"
    assert texts_of(model.calls[-1].input) == ["Pick a colour", "Red", "Pick a fruit"]
    # Edit and resend: another message in its place.
    answer = send(http, h, "chat", text="Pick a drink", replace_last=True)
    assert sse_events(answer.text)[-1][0] == "done"
    assert texts_of(model.calls[-1].input) == ["Pick a colour", "Red", "Pick a drink"]
    stored = texts_of(store.get_items(store.get_session("sara", "chat")))
    assert stored == ["Pick a colour", "Red", "Pick a drink", "Tea"]


def test_replace_last_needs_a_turn(http: TestClient, store: Store, model: ScriptedModel) -> None:
    h = add_user(store, "sara")
    store.create_session("sara", "empty")
    assert send(http, h, "empty", text="Hi", replace_last=True).status_code == 409
    assert not model.calls
