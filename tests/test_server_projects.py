"""Projects over HTTP, and verified forgetting: ``?verify=true`` answers the receipt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memchat.store import Store

from .helpers import reply
from .server_harness import add_user
from .test_server_api import Api


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    harness = Api(store)
    with harness.client:
        yield harness


def test_sessions_and_facts_of_a_scoped_project(api: Api) -> None:
    c, h = api.client, api.sara
    made = c.post("/api/sessions", json={"id": "t", "project": "thesis"}, headers=h)
    assert made.status_code == 201 and made.json()["project"] == "thesis"
    c.post("/api/sessions", json={"id": "p"}, headers=h)
    listed = c.get("/api/sessions", params={"project": "thesis"}, headers=h).json()
    assert [s["id"] for s in listed] == ["t"]
    assert [s["id"] for s in c.get("/api/sessions?project=", headers=h).json()] == ["p"]
    scoped = c.put("/api/projects/thesis", json={"memory": "scoped"}, headers=h)
    assert scoped.json() == scoped.json() | {"name": "thesis", "memory": "scoped", "sessions": 1}
    assert c.get("/api/sessions/t", headers=h).json()["scoped"] is True
    moved = c.patch("/api/sessions/p", json={"project": "thesis"}, headers=h).json()
    assert (moved["project"], moved["scoped"]) == ("thesis", True)
    back = c.patch("/api/sessions/p", json={"project": ""}, headers=h).json()
    assert back["project"] == ""

    c.post("/api/facts", json={"key": "topic", "value": "graphs", "project": "thesis"}, headers=h)
    c.post("/api/facts", json={"key": "topic", "value": "birds"}, headers=h)
    every = c.get("/api/facts", headers=h).json()
    assert {(f["project"], f["value"]) for f in every} == {("thesis", "graphs"), ("", "birds")}
    only = c.get("/api/facts", params={"project": "thesis"}, headers=h).json()
    assert [f["value"] for f in only] == ["graphs"]
    gone = c.delete("/api/facts/topic", params={"project": "thesis"}, headers=h)
    assert gone.status_code == 204
    assert [f["value"] for f in c.get("/api/facts", headers=h).json()] == ["birds"]
    assert c.delete("/api/facts/topic?project=thesis", headers=h).status_code == 404

    assert [p["name"] for p in c.get("/api/projects", headers=h).json()] == ["thesis"]
    assert c.delete("/api/projects/thesis", headers=h).status_code == 204
    assert c.get("/api/projects/thesis", headers=h).status_code == 404
    assert c.get("/api/sessions/t", headers=h).json()["project"] == ""
    bad = c.post("/api/sessions", json={"project": "no spaces"}, headers=h)
    assert bad.status_code == 422


def test_a_turn_in_a_scoped_project_is_given_its_facts(api: Api) -> None:
    c, h = api.client, api.sara
    c.put("/api/projects/thesis", json={"memory": "scoped"}, headers=h)
    c.post("/api/sessions", json={"id": "t", "project": "thesis"}, headers=h)
    c.post("/api/sessions", json={"id": "p"}, headers=h)
    c.post("/api/facts", json={"key": "topic", "value": "graphs", "project": "thesis"}, headers=h)
    api.send("t", "What is my topic?", "Graphs.")
    assert api.model.last_call is not None
    assert "- topic: graphs" in str(api.model.last_call.input)
    api.send("p", "What is my topic?", "I don't know.")
    assert "graphs" not in str(api.model.last_call.input)
    # The page's "new chat" makes its session with the first message, in a project too.
    api.model.extend([reply("Graphs, still.")])
    sent = c.post(
        "/api/sessions/n/messages",
        json={"text": "And now?", "create": True, "project": "thesis"},
        headers=h,
    )
    assert sent.status_code == 200
    assert "- topic: graphs" in str(api.model.last_call.input)
    assert c.get("/api/sessions/n", headers=h).json()["project"] == "thesis"


def test_verify_answers_the_receipt_of_each_delete(api: Api) -> None:
    c, h = api.client, api.sara
    api.store.set_fact("sara", "pet", "a tortoise called Archibald", "manual")
    receipt = c.delete("/api/facts/pet?verify=true", headers=h)
    assert receipt.status_code == 200, receipt.text
    body = receipt.json()
    assert body["forgot"] == "the fact 'pet' of sara"
    assert body["clean"] is True and body["copies"] == []
    assert body["removed"]["facts"] == 1 and body["words"] >= 2

    c.post("/api/sessions", json={"id": "s"}, headers=h)
    api.send("s", "The zebrafinch4471 sang all morning", "Lovely.")
    deleted = c.delete("/api/sessions/s", params={"verify": "true"}, headers=h)
    assert deleted.status_code == 200
    assert deleted.json()["removed"]["sessions"] == 1
    assert deleted.json()["clean"] is True, deleted.json()
    assert c.get("/api/sessions/s", headers=h).status_code == 404
    # Without verify: 204, as before.
    c.post("/api/sessions", json={"id": "s2"}, headers=h)
    api.send("s2", "hello", "hi")
    assert c.delete("/api/sessions/s2", headers=h).status_code == 204


def test_verify_on_deleting_a_user_is_for_admins(api: Api) -> None:
    boss = add_user(api.store, "boss", admin=True)
    api.store.set_fact("sara", "hobby", "birdwatching", "manual")
    assert api.client.delete("/api/users/sara?verify=true", headers=api.sara).status_code == 403
    answer = api.client.delete("/api/users/sara?verify=true", headers=boss)
    assert answer.status_code == 200
    body = answer.json()
    assert body["forgot"] == "the user sara" and body["removed"]["users"] == 1
    assert body["clean"] is True
    assert [u.name for u in api.store.list_users()] == ["boss"]
