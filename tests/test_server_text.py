"""NUL characters over HTTP: the same answers on SQLite and PostgreSQL.

PostgreSQL cannot store or even look up text with a NUL in it (it answered 503s, and a
rename silently dropped the NUL); SQLite can. The API refuses such text itself: an id or
name in a path is not found (404), a title or fact to store is a bad request (400).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agents.testing import ScriptedModel
from fastapi.testclient import TestClient

from memchat.store import Store, open_store

from .server_harness import add_user, client, scripted_app


@pytest.fixture
def pair(store_location: str) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    """A client of an app over a fresh store of each backend, as an admin."""
    with open_store(store_location) as store:
        admin = add_user(store, "sara", admin=True)
        store.create_session("sara", "s1", title="Plans")
        with client(scripted_app(store, ScriptedModel())) as http:
            yield http, store, admin


@pytest.mark.parametrize("bad", ["a\x00b", "a\x01b", "\x00"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/sessions/{}", None),
        ("PATCH", "/api/sessions/{}", {"title": "New"}),
        ("DELETE", "/api/sessions/{}", None),
        ("POST", "/api/sessions/{}/clear", None),
        ("GET", "/api/sessions/{}/messages", None),
        ("POST", "/api/sessions/{}/messages", {"text": "hi"}),
        ("GET", "/api/search?q=plans&session={}", None),
        ("GET", "/api/export?session={}", None),
        ("DELETE", "/api/facts/{}", None),
        ("DELETE", "/api/users/{}", None),
        ("POST", "/api/users/{}/tokens", None),
        ("DELETE", "/api/users/{}/tokens", None),
    ],
)
def test_an_id_or_name_with_a_nul_or_control_character_is_not_found(
    pair: tuple[TestClient, Store, dict[str, str]],
    method: str,
    path: str,
    body: object,
    bad: str,
) -> None:
    http, _, admin = pair
    quoted = "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in bad)
    answer = http.request(method, path.format(quoted), json=body, headers=admin)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/sessions", {"title": "a\x00b"}, "title"),
        ("PATCH", "/api/sessions/s1", {"title": "Plans\x00"}, "title"),
        ("POST", "/api/facts", {"key": "pet\x00", "value": "Rex"}, "fact key"),
        ("POST", "/api/facts", {"key": "pet", "value": "R\x00ex"}, "fact value"),
    ],
)
def test_text_with_a_nul_is_refused_and_nothing_changes(
    pair: tuple[TestClient, Store, dict[str, str]],
    method: str,
    path: str,
    body: dict[str, str],
    field: str,
) -> None:
    http, store, admin = pair
    answer = http.request(method, path, json=body, headers=admin)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == {
        "code": "bad_request",
        "message": f"the {field} contains a NUL character",
    }
    assert [(s.id, s.title) for s in store.list_sessions("sara")] == [("s1", "Plans")]
    assert store.list_facts("sara") == []


def test_other_control_characters_in_text_are_kept_alike(
    pair: tuple[TestClient, Store, dict[str, str]],
) -> None:
    http, store, admin = pair
    renamed = http.patch("/api/sessions/s1", json={"title": "a\x07b"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["title"] == "a\x07b"
    fact = http.post("/api/facts", json={"key": "k\x01", "value": "v\x1f"}, headers=admin)
    assert fact.status_code == 200
    assert [(f.key, f.value) for f in store.list_facts("sara")] == [("k\x01", "v\x1f")]
