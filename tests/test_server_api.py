"""The HTTP API through FastAPI's test client, with a scripted model."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import pytest
from agents.testing import ScriptedModel
from fastapi.testclient import TestClient

from memchat.errors import StoreError
from memchat.memory.tokens import MESSAGE_OVERHEAD, estimate_tokens
from memchat.models import ModelChoice
from memchat.server import create_app
from memchat.store import Store, open_store

from .helpers import reply, texts_of
from .server_harness import LiveServer, add_user, client, scripted_app, sse_events


class Api:
    """A test client for one app, one store and one scripted model."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.model = ScriptedModel()
        self.client: TestClient = client(scripted_app(store, self.model, max_body_bytes=64_000))
        self.sara = add_user(store, "sara")

    def send(self, session_id: str, text: str, *replies: str) -> list[tuple[str, object]]:
        self.model.extend(reply(r) for r in replies)
        response = self.client.post(
            f"/api/sessions/{session_id}/messages", json={"text": text}, headers=self.sara
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response.text)


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    harness = Api(store)
    with harness.client:
        yield harness


@pytest.fixture
def sqlite_api(sqlite_store: Store) -> Iterator[Api]:
    """The API over a SQLite store, for the tests about its file."""
    harness = Api(sqlite_store)
    with harness.client:
        yield harness


def test_a_conversation_over_http_remembers(api: Api) -> None:
    created = api.client.post("/api/sessions", json={}, headers=api.sara)
    assert created.status_code == 201
    sid = created.json()["id"]
    events = api.send(sid, "My name is Sara", "Hi Sara")
    assert [name for name, _ in events] == ["delta", "done"]
    assert events[0][1] == {"text": "Hi Sara"}
    done = events[-1][1]
    assert isinstance(done, dict)
    assert done["session"]["title"] == "My name is Sara"
    assert done["session"]["turn_count"] == 1
    assert done["seq"] == 1
    assert done["memory"] == {"remembered": [{"key": "name", "value": "Sara"}], "forgotten": []}

    events = api.send(sid, "What's my name?", "Sara.")
    assert events[-1][1]["memory"] == {"remembered": [], "forgotten": []}  # type: ignore[index]
    assert events[-1][1]["seq"] == 2  # type: ignore[index]
    assert api.model.last_call is not None
    assert texts_of(api.model.last_call.input) == ["My name is Sara", "Hi Sara", "What's my name?"]

    history = api.client.get(f"/api/sessions/{sid}/messages", headers=api.sara).json()
    assert [t["seq"] for t in history["turns"]] == [1, 2]
    assert history["turns"][0]["messages"] == [
        {"role": "user", "text": "My name is Sara"},
        {"role": "assistant", "text": "Hi Sara"},
    ]
    facts = api.client.get("/api/facts", headers=api.sara).json()
    assert [(f["key"], f["value"]) for f in facts] == [("name", "Sara")]


def test_session_lifecycle(api: Api) -> None:
    c, h = api.client, api.sara
    made = c.post("/api/sessions", json={"id": "work", "title": "Work"}, headers=h)
    assert made.status_code == 201 and made.json()["title"] == "Work"
    assert c.post("/api/sessions", json={"id": "work"}, headers=h).status_code == 409
    assert c.get("/api/sessions/work", headers=h).json()["id"] == "work"
    renamed = c.patch("/api/sessions/work", json={"title": "Job"}, headers=h)
    assert renamed.json()["title"] == "Job"
    api.send("work", "hello", "hi")
    cleared = c.post("/api/sessions/work/clear", headers=h)
    assert cleared.status_code == 200 and cleared.json()["turn_count"] == 0
    assert c.get("/api/sessions/work/messages", headers=h).json()["turns"] == []
    assert [s["id"] for s in c.get("/api/sessions", headers=h).json()] == ["work"]
    assert c.delete("/api/sessions/work", headers=h).status_code == 204
    assert c.get("/api/sessions/work", headers=h).status_code == 404
    assert c.get("/api/sessions", headers=h).json() == []


def test_facts_search_and_export(api: Api) -> None:
    c, h = api.client, api.sara
    c.post("/api/sessions", json={"id": "trip"}, headers=h)
    api.send("trip", "We fly to Lisbon on Friday [really]", "Have a good trip")
    fact = c.post("/api/facts", json={"key": "colour", "value": "teal"}, headers=h).json()
    assert fact["key"] == "colour" and fact["source"] == "api"
    assert c.delete("/api/facts/colour", headers=h).status_code == 204
    assert c.delete("/api/facts/colour", headers=h).status_code == 404

    hits = c.get("/api/search", params={"q": "lisbon"}, headers=h).json()
    assert hits and hits[0]["session_id"] == "trip" and "[Lisbon]" in hits[0]["snippet"]
    # The parts tell a matched word from the message's own brackets.
    assert hits[0]["parts"] == [
        {"text": "We fly to ", "match": False},
        {"text": "Lisbon", "match": True},
        {"text": " on Friday [really]", "match": False},
    ]
    assert c.get("/api/search", params={"q": "x", "session": "nope"}, headers=h).status_code == 404

    jsonl = c.get("/api/export", headers=h)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines[0]["type"] == "memchat-export" and lines[1]["id"] == "trip"
    markdown = c.get("/api/export", params={"format": "markdown", "session": "trip"}, headers=h)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "**user:** We fly to Lisbon on Friday" in markdown.text


def test_a_fact_shows_its_source_message_and_history(api: Api) -> None:
    c, h = api.client, api.sara
    c.post("/api/sessions", json={"id": "life"}, headers=h)
    api.send("life", "I live in Porto", "Nice")
    api.send("life", "I moved to Lisbon", "Exciting")
    (fact,) = c.get("/api/facts", headers=h).json()
    assert fact["value"] == "Lisbon" and fact["valid_from"]
    turn = c.get("/api/sessions/life/messages", headers=h).json()["turns"][1]
    assert fact["sources"] == [{"session_id": "life", "seq": turn["seq"], "item_id": ANY}]
    versions = c.get("/api/facts/home/history", headers=h).json()
    assert [(v["value"], v["sources"][0]["seq"]) for v in versions] == [("Porto", 1), ("Lisbon", 2)]
    assert versions[0]["valid_to"] == versions[1]["valid_from"] and versions[1]["valid_to"] is None
    assert c.get("/api/facts/pet/history", headers=h).status_code == 404
    # A key as the user would write it finds the fact as memory keeps it.
    api.send("life", "My favorite color is teal", "Nice")
    said = c.get("/api/facts/Favorite Color/history", headers=h).json()
    assert [v["value"] for v in said] == ["teal"]
    # Another user sees none of it.
    other = add_user(api.store, "ali")
    assert c.get("/api/facts/home/history", headers=other).status_code == 404


def test_users_are_managed_by_admins(api: Api) -> None:
    c = api.client
    boss = add_user(api.store, "boss", admin=True)
    assert c.get("/api/me", headers=boss).json()["admin"] is True
    assert c.get("/api/me", headers=api.sara).json() == {
        "name": "sara",
        "created_at": api.store.get_user("sara").created_at,
        "admin": False,
    }
    made = c.post("/api/users", json={"name": "ali"}, headers=boss)
    assert made.status_code == 201
    ali = {"Authorization": f"Bearer {made.json()['token']}"}
    assert c.get("/api/me", headers=ali).json()["name"] == "ali"
    assert c.post("/api/users", json={"name": "ali"}, headers=boss).status_code == 409
    assert c.post("/api/users", json={"name": "no spaces"}, headers=boss).status_code == 422
    assert {u["name"] for u in c.get("/api/users", headers=boss).json()} == {"boss", "sara", "ali"}

    second = c.post("/api/users/ali/tokens", headers=boss).json()["token"]
    assert c.get("/api/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    assert c.delete("/api/users/ali/tokens", headers=boss).json() == {"revoked": 2}
    assert c.get("/api/me", headers=ali).status_code == 401
    assert c.delete("/api/users/boss", headers=boss).status_code == 409
    assert c.delete("/api/users/ali", headers=boss).status_code == 204
    assert c.delete("/api/users/ali", headers=boss).status_code == 404

    for method, path in [
        ("GET", "/api/users"),
        ("POST", "/api/users"),
        ("DELETE", "/api/users/boss"),
        ("POST", "/api/users/boss/tokens"),
        ("DELETE", "/api/users/boss/tokens"),
    ]:
        body = {"name": "mallory"} if method == "POST" else None
        answer = c.request(method, path, json=body, headers=api.sara)
        assert answer.status_code == 403, (method, path)
        assert answer.json()["error"]["code"] == "forbidden"


def test_deleting_a_user_with_vacuum_leaves_no_copy_in_the_file_or_its_wal(
    sqlite_api: Api, db_path: Path
) -> None:
    """The server keeps its connection open, so its WAL outlives the delete: ``vacuum=true``
    checkpoints and truncates it, as ``memchat users delete --vacuum`` does."""
    boss = add_user(sqlite_api.store, "boss", admin=True)
    for n in range(3):
        sqlite_api.client.post("/api/sessions", json={"id": f"s{n}"}, headers=sqlite_api.sara)
        sqlite_api.send(f"s{n}", f"my locker code is quokka-{n}-731", f"Noted, quokka-{n}-731.")
    sqlite_api.store.set_fact("sara", "locker", "quokka-731", "manual")
    assert sqlite_api.client.get(
        "/api/search?q=quokka", headers=sqlite_api.sara
    ).json()  # index it too
    deleted = sqlite_api.client.delete("/api/users/sara?vacuum=true", headers=boss)
    assert deleted.status_code == 204, deleted.text
    copies = {
        path.name: path.read_bytes().lower().count(b"quokka")
        for path in db_path.parent.glob(db_path.name + "*")
    }
    assert set(copies) >= {db_path.name} and not any(copies.values()), copies
    assert sqlite_api.client.get("/api/users", headers=boss).json()[0]["name"] == "boss"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "send an API token"),
        ({"Authorization": "Bearer mc_nope"}, "unknown or was revoked"),
        ({"Authorization": "Basic c2FyYTpwdw=="}, "send an API token"),
    ],
)
def test_no_valid_token_is_a_json_401(api: Api, headers: dict[str, str], message: str) -> None:
    for path in ("/api/me", "/api/sessions", "/api/facts", "/api/export"):
        answer = api.client.get(path, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert message in answer.json()["error"]["message"]


def test_errors_are_json_without_tracebacks(api: Api) -> None:
    c, h = api.client, api.sara
    cases = [
        (c.post("/api/sessions", content=b"{not json", headers=h), 422, "invalid_request"),
        (c.post("/api/sessions", json={"bogus": 1}, headers=h), 422, "invalid_request"),
        (c.post("/api/sessions", json={"id": "a/b"}, headers=h), 422, "invalid_request"),
        (
            c.post("/api/sessions", content=rb'{"title": "\ud800"}', headers=h),
            422,
            "invalid_request",
        ),
        (c.post("/api/sessions", content=b"x" * 70_000, headers=h), 413, "too_large"),
        (c.get("/api/sessions/ghost/messages", headers=h), 404, "not_found"),
        (c.put("/api/sessions", headers=h), 405, "method_not_allowed"),
        (c.get("/api/nothing-here", headers=h), 404, "not_found"),
        (c.get("/api/search", params={"q": "x", "limit": 0}, headers=h), 422, "invalid_request"),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code, answer.text
        assert "Traceback" not in answer.text and 'File "' not in answer.text


def test_message_limits_and_failures_store_nothing(api: Api) -> None:
    c, h = api.client, api.sara
    c.post("/api/sessions", json={"id": "s"}, headers=h)
    too_long = c.post("/api/sessions/s/messages", json={"text": "x" * 100_001}, headers=h)
    assert too_long.status_code == 413  # the body limit (64 kB here) or the message limit
    blank = c.post("/api/sessions/s/messages", json={"text": "   "}, headers=h)
    assert blank.status_code == 400 and blank.json()["error"]["message"] == "the message is empty"

    api.model.enqueue(RuntimeError("provider down"))
    events = sse_events(c.post("/api/sessions/s/messages", json={"text": "hi"}, headers=h).text)
    assert events[-1][0] == "error"
    error = events[-1][1]
    assert isinstance(error, dict) and error["error"]["code"] == "model_call_failed"
    assert api.store.get_session("sara", "s").turn_count == 0


def test_message_limit_is_the_setting(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCHAT_MAX_INPUT_CHARS", "10")
    api = Api(store)
    with api.client:
        api.client.post("/api/sessions", json={"id": "s"}, headers=api.sara)
        answer = api.client.post(
            "/api/sessions/s/messages", json={"text": "x" * 11}, headers=api.sara
        )
        assert answer.status_code == 413
        assert "limit is 10" in answer.json()["error"]["message"]
    assert api.model.calls == ()


def test_the_page_and_the_spec_are_served(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self'
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert api.client.get("/static/markdown.js").status_code == 200
    spec = api.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    paths = set(spec["paths"])
    assert {
        "/api/sessions",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/clear",
        "/api/sessions/{session_id}/branches",
        "/api/sessions/{session_id}/branches/{branch}",
        "/api/sessions/{session_id}/branches/{branch}/activate",
        "/api/sessions/{session_id}/fork",
        "/api/render",
        "/api/sessions/{session_id}/messages",
        "/api/facts",
        "/api/facts/{key_or_id}",
        "/api/facts/{key}/history",
        "/api/search",
        "/api/usage",
        "/api/export",
        "/api/import",
        "/api/me",
        "/api/users",
        "/api/users/{name}",
        "/api/users/{name}/tokens",
        "/api/projects",
        "/api/projects/{name}",
        "/v1/models",
        "/v1/chat/completions",
    } == paths
    stream = spec["paths"]["/api/sessions/{session_id}/messages"]["post"]["responses"]["200"]
    assert list(stream["content"]) == ["text/event-stream"]
    # An import's body is the file itself, whatever it is labelled.
    upload = spec["paths"]["/api/import"]["post"]["requestBody"]
    assert upload["required"] is True
    assert {"application/zip", "application/json", "application/x-ndjson"} <= set(upload["content"])


def test_a_bug_is_a_bare_json_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at 0xdeadbeef")

    monkeypatch.setattr(api.store, "list_sessions", broken)
    answer = api.client.get("/api/sessions", headers=api.sara)
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    assert "0xdeadbeef" not in answer.text


def test_a_server_opened_from_the_settings_encrypts_with_their_key(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``memchat serve`` workers open the store themselves: with the key, as the CLI does."""
    pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
    from memchat.store.crypto import generate_key

    key = generate_key()
    monkeypatch.setenv("MEMCHAT_DB", str(db_path))
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", key)
    with open_store(db_path, encryption_key=key) as store:
        headers = add_user(store, "sara")
    model = ScriptedModel([reply("Noted.")])
    app = create_app(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
    with client(app) as c:
        c.post("/api/sessions", json={"id": "s"}, headers=headers)
        c.post("/api/sessions/s/messages", json={"text": "my code is zebra-1789"}, headers=headers)
        history = c.get("/api/sessions/s/messages", headers=headers).json()
    assert history["turns"][0]["messages"][0]["text"] == "my code is zebra-1789"
    on_disk = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert b"zebra-1789" not in on_disk


def test_head_is_answered_wherever_allow_says_so(api: Api) -> None:
    """A 405's Allow lists HEAD with GET, and HEAD gets GET's status and headers, no body."""
    c, h = api.client, api.sara
    c.post("/api/sessions", json={"id": "s"}, headers=h)
    for path in ("/", "/static/app.js", "/openapi.json", "/api/me", "/api/sessions",
                 "/api/sessions/s", "/api/sessions/s/messages", "/api/facts",
                 "/api/search?q=x", "/api/export", "/api/sessions/ghost"):  # fmt: skip
        got, head = c.get(path, headers=h), c.head(path, headers=h)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert head.headers["content-length"] == str(len(got.content)), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        refused = c.put(path, headers=h)
        assert refused.status_code == 405, path
        allowed = refused.headers["allow"].split(", ")
        assert "GET" in allowed and "HEAD" in allowed, (path, allowed)
    assert c.put("/api/sessions", headers=h).headers["allow"] == "GET, HEAD, POST"
    assert c.head("/api/sessions/s/messages", headers={}).status_code == 401


def test_head_over_a_real_socket_sends_no_body(store: Store) -> None:
    headers = add_user(store, "sara")
    with LiveServer(scripted_app(store, ScriptedModel())) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            token = headers["Authorization"]
            for _ in range(2):  # the connection stays usable: no stray body was sent
                conn.sendall(
                    f"HEAD /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
                )
                answer = b""
                while not answer.endswith(b"\r\n\r\n"):
                    answer += conn.recv(4096)
                assert answer.startswith(b"HTTP/1.1 200 "), answer


def test_database_errors_name_no_file_to_callers(
    sqlite_api: Api, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller gets a generic 503; the path goes to the server's log alone."""
    c, h = sqlite_api.client, sqlite_api.sara
    c.post("/api/sessions", json={"id": "s"}, headers=h)

    def broken(*args: object, **kwargs: object) -> None:
        raise StoreError(f"cannot write {db_path}: disk I/O error")

    sqlite_api.store.commit_turn = broken  # type: ignore[method-assign,assignment]
    events = sqlite_api.send("s", "hello", "hi")
    assert events[-1] == (
        "error",
        {
            "error": {
                "code": "store_error",
                "message": "the database cannot be used right now; try again later",
            }
        },
    )
    sqlite_api.store.close()  # every read now fails, naming the file
    answer = c.get("/api/sessions", headers=h)
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == (
        "the database cannot be used right now; try again later"
    )
    for text in (answer.text, json.dumps(events)):
        assert str(db_path.parent) not in text and "memchat.db" not in text
    assert f"cannot write {db_path}" in caplog.text and f"cannot read {db_path}" in caplog.text


def test_postgres_errors_name_no_server_to_callers(pg_url: str) -> None:
    from .pg import drop_schema

    with open_store(pg_url) as store:
        headers = add_user(store, "sara")
        with client(scripted_app(store, ScriptedModel())) as http:
            assert http.get("/api/sessions", headers=headers).status_code == 200
            base, schema = pg_url.split("schema=")
            drop_schema(base, schema)
            answer = http.get("/api/sessions", headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "store_error"
    for secret in ("127.0.0.1", "5432", "/test", "postgresql", schema):
        assert secret not in answer.text


def test_a_message_over_the_context_budget_is_a_413_before_the_stream(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under MEMCHAT_MAX_INPUT_CHARS but over the model's budget: refused up front."""
    monkeypatch.setenv("MEMCHAT_CONTEXT_TOKENS", "256")
    api = Api(store)
    with api.client:
        api.client.post("/api/sessions", json={"id": "s"}, headers=api.sara)
        text = "word " * 300
        answer = api.client.post("/api/sessions/s/messages", json={"text": text}, headers=api.sara)
        assert answer.status_code == 413, answer.text
        tokens = estimate_tokens(text) + MESSAGE_OVERHEAD
        assert answer.json()["error"] == {
            "code": "input_too_large",
            "message": f"the message takes about {tokens} tokens; with the system prompt that is"
            " over this model's context budget of 256 (MEMCHAT_CONTEXT_TOKENS)",
        }
    assert api.model.calls == ()
    assert store.get_session("sara", "s").turn_count == 0


@pytest.mark.parametrize("budget", [256, 1000])
async def test_the_early_check_agrees_with_memory_at_the_edge(store: Store, budget: int) -> None:
    """check_context_room repeats Memory.assemble's first check: both refuse the same."""
    from memchat.chat import Chat
    from memchat.config import load_settings
    from memchat.errors import InputTooLarge
    from memchat.server.routes.messages import check_context_room

    settings = load_settings().with_overrides(context_tokens=budget)
    chat = Chat.from_settings(settings, ModelChoice(ScriptedModel(), "scripted", "t"), store)
    assert chat.memory is not None
    info = store.create_session("sara", "s")

    def early(text: str) -> bool:
        try:
            check_context_room(chat, text)
        except InputTooLarge:
            return False
        return True

    longest = max(n for n in range(1, 4 * budget) if early("ab " * n))
    for n in (longest - 1, longest, longest + 1, longest + 2):
        text = "ab " * n
        try:
            await chat.memory.assemble(info, text, settings.system_prompt)
            fits = True
        except InputTooLarge:
            fits = False
        assert fits == early(text) == (n <= longest), n


def test_a_fact_deleted_over_http_is_not_recalled(api: Api) -> None:
    """DELETE /api/facts/KEY forgets as memory does: the message that said it goes too."""
    sids = [api.client.post("/api/sessions", json={}, headers=api.sara).json()["id"] for _ in "abc"]
    api.send(sids[0], "I live in Porto, near the river.", "Noted.")
    api.send(sids[1], "Where do I live?", "In Porto.")
    assert api.model.last_call is not None and "near the river" in str(api.model.last_call.input)
    assert api.client.delete("/api/facts/home", headers=api.sara).status_code == 204
    api.send(sids[2], "Where do I live?", "I don't know.")
    assert "Porto" not in str(api.model.last_call.input)
    assert texts_of(api.model.last_call.input)[-1] == "Where do I live?"
