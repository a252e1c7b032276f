"""Lists over HTTP a page at a time: ``limit``, an opaque ``cursor``, the next page in
``Link``; following the links gives every item once, in order, on every backend."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from agents.testing import ScriptedModel
from fastapi.testclient import TestClient

from memchat.store import Store
from memchat.store.base import SessionRecord

from .helpers import user_message
from .server_harness import add_user, client, scripted_app

OLD = "2024-01-01T00:00:00.000000Z"
_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
def http(any_store: Store) -> Iterator[TestClient]:
    with client(scripted_app(any_store, ScriptedModel())) as opened:
        yield opened


def pages(http: TestClient, url: str, headers: dict[str, str]) -> list[Any]:
    """Every page's JSON, following Link headers from ``url`` to the last page."""
    found = []
    next_url: str | None = url
    while next_url:
        answer = http.get(next_url, headers=headers)
        assert answer.status_code == 200, answer.text
        found.append(answer.json())
        link = answer.headers.get("link")
        match = _NEXT.match(link) if link else None
        assert link is None or match, link
        next_url = match.group(1) if match else None
    return found


def test_sessions_page_by_page(any_store: Store, http: TestClient) -> None:
    headers = add_user(any_store, "sara")
    # Five imported at the same moment: the row id orders them within it.
    any_store.import_sessions(
        [SessionRecord("sara", f"old{n}", None, OLD, {}, []) for n in range(5)]
    )
    for n in range(4):
        any_store.create_session("sara", f"new{n}")
    every = [s.id for s in any_store.list_sessions("sara")]
    assert len(every) == 9

    got = pages(http, "/api/sessions?limit=2", headers)
    assert [len(page) for page in got] == [2, 2, 2, 2, 1]
    assert [s["id"] for page in got for s in page] == every
    # The default page holds them all; a page that is the last has no Link.
    whole = http.get("/api/sessions", headers=headers)
    assert [s["id"] for s in whole.json()] == every and "link" not in whole.headers
    assert "link" not in http.get("/api/sessions?limit=9", headers=headers).headers


def test_a_session_updated_between_pages_is_not_listed_twice(
    any_store: Store, http: TestClient
) -> None:
    headers = add_user(any_store, "sara")
    for n in range(4):
        any_store.create_session("sara", f"s{n}")
    first = http.get("/api/sessions?limit=2", headers=headers)
    assert [s["id"] for s in first.json()] == ["s3", "s2"]
    any_store.commit_turn(any_store.get_session("sara", "s3"), [user_message("hi")])
    rest = pages(http, _NEXT.match(first.headers["link"]).group(1), headers)  # type: ignore[union-attr]
    assert [s["id"] for page in rest for s in page] == ["s1", "s0"]


def test_messages_page_by_page(any_store: Store, http: TestClient) -> None:
    headers = add_user(any_store, "sara")
    info = any_store.create_session("sara", "s")
    for n in range(8):
        any_store.commit_turn(info, [user_message(f"m{n}")])
    any_store.pop_turn(info)  # seq 8 goes; the next turn is seq 9: pages skip the gap
    any_store.commit_turn(info, [user_message("m9")])

    got = pages(http, "/api/sessions/s/messages?limit=3", headers)
    assert [len(page["turns"]) for page in got] == [3, 3, 2]
    assert all(page["session"]["id"] == "s" for page in got)
    turns = [turn for page in got for turn in page["turns"]]
    assert [t["seq"] for t in turns] == [1, 2, 3, 4, 5, 6, 7, 9]
    assert [t["messages"][0]["text"] for t in turns][-2:] == ["m6", "m9"]
    assert len(http.get("/api/sessions/s/messages", headers=headers).json()["turns"]) == 8


def test_facts_page_by_page(any_store: Store, http: TestClient) -> None:
    headers = add_user(any_store, "sara")
    for n in range(5):
        any_store.set_fact("sara", f"k{n}", f"v{n}", "test")
    got = pages(http, "/api/facts?limit=2", headers)
    assert [f["key"] for page in got for f in page] == [f.key for f in any_store.list_facts("sara")]
    assert [len(page) for page in got] == [2, 2, 1]


def test_search_page_by_page(any_store: Store, http: TestClient) -> None:
    headers = add_user(any_store, "sara")
    info = any_store.create_session("sara", "s")
    for n in range(7):
        any_store.commit_turn(info, [user_message(f"the quokka number {n} " + "word " * n)])
    best = http.get("/api/search?q=quokka&limit=100", headers=headers).json()
    assert len(best) == 7

    got = pages(http, "/api/search?q=quokka&limit=3&session=s", headers)
    assert [len(page) for page in got] == [3, 3, 1]
    assert [h["seq"] for page in got for h in page] == [h["seq"] for h in best]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        base64.urlsafe_b64encode(b'["facts","2024-01-01",1]').decode(),  # another list's
        base64.urlsafe_b64encode(b'["sessions",1,1]').decode(),  # the wrong types
        base64.urlsafe_b64encode(b'["sessions","x",true]').decode(),
        base64.urlsafe_b64encode(b'["sessions","x"]').decode(),
        base64.urlsafe_b64encode(b'{"sessions": 1}').decode(),
    ],
)
def test_a_cursor_no_list_gave_is_a_404(any_store: Store, http: TestClient, cursor: str) -> None:
    headers = add_user(any_store, "sara")
    answer = http.get("/api/sessions", params={"cursor": cursor}, headers=headers)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == {
        "code": "not_found",
        "message": "no such page: the cursor is not one this list gave",
    }


def test_page_sizes_are_bounded(any_store: Store, http: TestClient) -> None:
    headers = add_user(any_store, "sara")
    any_store.create_session("sara", "s")
    for path, most in [
        ("/api/sessions", 1000),
        ("/api/sessions/s/messages", 500),
        ("/api/facts", 1000),
        ("/api/search?q=x", 100),
    ]:
        joiner = "&" if "?" in path else "?"
        assert http.get(f"{path}{joiner}limit={most}", headers=headers).status_code == 200
        assert http.get(f"{path}{joiner}limit={most + 1}", headers=headers).status_code == 422
        assert http.get(f"{path}{joiner}limit=0", headers=headers).status_code == 422
