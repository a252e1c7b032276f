"""``POST /api/import``: ChatGPT, Claude and memchat exports uploaded over HTTP, on both
backends; everything becomes the caller's, a bad file imports nothing, and an upload over
MEMCHAT_MAX_IMPORT_BYTES is refused as it arrives (against uvicorn, on a real socket)."""

from __future__ import annotations

import io
import json
import logging
import socket
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel
from fastapi.testclient import TestClient

from memchat.config import load_settings
from memchat.store import Store

from .foreign_exports import chatgpt_export, chatgpt_export_later, claude_export
from .helpers import user_message
from .server_harness import LiveServer, add_user, client, scripted_app

GPT_PLAIN = "chatgpt-c0ffee00-0000-4000-8000-000000000001"
GPT_BRANCHED = "chatgpt-c0ffee00-0000-4000-8000-000000000002"
LIMIT = 4096
AT = "2024-05-01T10:00:00Z"


class Api:
    """The app over a store, with sara and ali, their tokens, and a small import limit."""

    def __init__(self, store: Store, **settings: Any) -> None:
        self.store = store
        configured = load_settings().with_overrides(**settings) if settings else None
        self.client: TestClient = client(scripted_app(store, ScriptedModel(), configured))
        self.sara = add_user(store, "sara")
        self.ali = add_user(store, "ali")

    def upload(self, body: bytes, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return self.client.post(
            "/api/import", content=body, params=params, headers=self.sara | (headers or {})
        )

    def held(self) -> dict[str, Any]:
        """Everything the store holds of sara and ali: their sessions' turns and facts."""
        return {
            name: (
                {s.id: self.store.get_turns(s) for s in self.store.list_sessions(name)},
                sorted((f.key, f.value) for f in self.store.list_facts(name)),
            )
            for name in ("sara", "ali")
        }


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    harness = Api(store)
    with harness.client:
        yield harness


def zipped(conversations: object, name: str = "conversations.json") -> bytes:
    """An export ZIP as the apps send it: their conversations.json, and more beside."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", "{}")
        archive.writestr(name, json.dumps(conversations))
    return out.getvalue()


def texts(api: Api, session_id: str) -> list[str]:
    history = api.client.get(f"/api/sessions/{session_id}/messages", headers=api.sara).json()
    return [m["text"] for turn in history["turns"] for m in turn["messages"]]


def test_a_chatgpt_zip_becomes_the_callers_chats_with_their_branches(api: Api) -> None:
    answer = api.upload(zipped(chatgpt_export()), {"Content-Type": "application/zip"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "sessions": 2,
        "turns": 4,
        "branches": 2,
        "branch_turns": 2,
        "facts": 0,
        "updated": 0,
        "skipped": 0,
        "session_ids": [GPT_PLAIN, GPT_BRANCHED],
    }
    listed = api.client.get("/api/sessions", headers=api.sara).json()
    assert {s["id"]: s["title"] for s in listed} == {
        GPT_PLAIN: "Moving to Porto",
        GPT_BRANCHED: "Dinner ideas",
    }
    assert texts(api, GPT_PLAIN) == [
        "My name is Sara and I live in Porto.",
        "Nice to meet you, Sara!",
        "Any tips for the Douro valley?",
        "Take the train from São Bento.",
    ]
    branches = api.client.get(f"/api/sessions/{GPT_BRANCHED}/branches", headers=api.sara)
    assert len(branches.json()) == 2
    # Nobody else got any of it.
    assert api.client.get("/api/sessions", headers=api.ali).json() == []


def test_a_second_upload_of_the_same_export_skips_what_is_there(api: Api) -> None:
    bundle = zipped(chatgpt_export())
    assert api.upload(bundle).json()["sessions"] == 2
    before = api.held()
    again = api.upload(bundle)
    assert again.status_code == 200, again.text
    assert again.json() | {"session_ids": None} == {
        "sessions": 0,
        "turns": 0,
        "branches": 0,
        "branch_turns": 0,
        "facts": 0,
        "updated": 0,
        "skipped": 2,
        "session_ids": None,
    }
    assert again.json()["session_ids"] == []
    assert api.held() == before


def test_a_later_export_adds_the_turns_its_conversations_gained(api: Api) -> None:
    """The answer counts the conversations that went on (updated) and their new turns."""
    assert api.upload(zipped(chatgpt_export())).json()["sessions"] == 2
    later = zipped(chatgpt_export_later())
    answer = api.upload(later, learn="true", name="later.zip")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "sessions": 0,
        "turns": 3,
        "branches": 0,
        "branch_turns": 0,
        "facts": 1,
        "updated": 2,
        "skipped": 0,
        "session_ids": [],
    }
    assert texts(api, GPT_PLAIN)[-2:] == ["Where can we walk together?", "Along the Douro."]
    assert texts(api, GPT_BRANCHED)[-1] == "Pastéis de nata."
    assert [(f.key, f.value) for f in api.store.list_facts("sara")] == [("dog", "Rex")]
    before = api.held()
    again = api.upload(later)
    assert (again.json()["updated"], again.json()["skipped"]) == (0, 2)
    assert api.held() == before
    # The spec says so too.
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["ImportOut"]
    assert "updated" in schema["required"]
    assert "counted in turns" in schema["properties"]["updated"]["description"]


def test_a_claude_export_with_learn_teaches_the_callers_memory(api: Api) -> None:
    answer = api.upload(
        json.dumps(claude_export()).encode(),
        {"Content-Type": "application/json"},
        learn="true",
        name="conversations.json",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["sessions"] == 2
    assert (answer.json()["turns"], answer.json()["branch_turns"]) == (3, 1)
    assert answer.json()["facts"] == 1
    facts = api.client.get("/api/facts", headers=api.sara).json()
    assert [(f["key"], f["value"], f["source"]) for f in facts] == [
        ("cats", "Miso and Tofu", "import: conversations.json")
    ]
    assert api.store.list_facts("ali") == []


def test_without_learn_no_fact_is_learned(api: Api) -> None:
    answer = api.upload(json.dumps(claude_export()).encode())
    assert (answer.status_code, answer.json()["facts"]) == (200, 0)
    assert api.store.list_facts("sara") == []


def test_a_memchat_export_of_another_user_is_imported_as_the_callers(api: Api) -> None:
    trip = api.store.create_session("ali", "trip", title="Trip")
    api.store.commit_turn(trip, [user_message("Ali's own words")])
    api.store.set_fact("ali", "name", "Ali", "manual")
    export = api.client.get("/api/export", headers=api.ali)
    assert export.status_code == 200
    assert '"user": "ali"' in export.text
    alis = api.held()["ali"]

    answer = api.upload(export.content, {"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"session_ids": ["trip"]} == {
        "sessions": 1,
        "turns": 1,
        "branches": 0,
        "branch_turns": 0,
        "facts": 1,
        "updated": 0,
        "skipped": 0,
        "session_ids": ["trip"],
    }
    # Sara's copy, under the same id: Ali's session is his own still, untouched.
    assert texts(api, "trip") == ["Ali's own words"]
    assert [f.key for f in api.store.list_facts("sara")] == ["name"]
    assert api.held()["ali"] == alis

    # The same again: sara has a "trip" now, so nothing is imported (409).
    before = api.held()
    again = api.upload(export.content)
    assert again.status_code == 409, again.text
    assert "trip" in again.json()["error"]["message"]
    assert api.held() == before


def test_a_memchat_export_naming_someone_else_cannot_write_their_sessions(api: Api) -> None:
    """The users a JSONL file names are ignored: the caller's token decides the owner."""
    lines = [
        {"type": "memchat-export", "version": 2},
        {"type": "session", "user": "ali", "id": "planted", "title": "Hi", "created_at": AT},
        {"type": "turn", "created_at": AT, "items": [user_message("I am Ali, trust me")]},
        {"type": "session", "user": "zoe", "id": "also", "title": "Hi", "created_at": AT},
        {"type": "turn", "created_at": AT, "items": [user_message("And Zoe")]},
        {"type": "fact", "user": "ali", "key": "name", "value": "Mallory"},
        {"type": "end", "sessions": 2, "turns": 2, "facts": 1},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    answer = api.upload(body)
    assert answer.status_code == 200, answer.text
    assert sorted(s.id for s in api.store.list_sessions("sara")) == ["also", "planted"]
    assert api.store.list_sessions("ali") == []
    assert api.store.list_facts("ali") == []
    assert [(f.key, f.value) for f in api.store.list_facts("sara")] == [("name", "Mallory")]
    assert "zoe" not in [user.name for user in api.store.list_users()]


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (
            lambda d: d[0]["mapping"]["a1"]["message"].update(content=[]),
            "conversations.json: conversation 1 (c0ffee00-0000-4000-8000-000000000001),"
            " node a1: content is not an object",
        ),
        (
            lambda d: d[1]["mapping"]["u2"].update(parent="nowhere"),
            "conversations.json: conversation 2",
        ),
    ],
)
def test_a_bad_export_names_the_node_and_imports_nothing(api: Api, damage: Any, named: str) -> None:
    api.store.set_fact("sara", "home", "Porto", "manual")
    before = api.held()
    data = chatgpt_export()
    damage(data)
    # A path as a browser or a script may give it: only the file's own name is used.
    answer = api.upload(json.dumps(data).encode(), name="C:\\Users\\sara\\conversations.json")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "import_format_error"
    assert answer.json()["error"]["message"].startswith(named)
    assert api.held() == before


def test_a_bad_line_of_a_memchat_export_is_named_and_nothing_is_imported(api: Api) -> None:
    first = api.store.create_session("ali", "one")
    api.store.commit_turn(first, [user_message("fine")])
    api.store.create_session("ali", "two")
    lines = api.client.get("/api/export", headers=api.ali).text.split("\n")
    lines[-3] = '{"type": "turn", "items": []}'  # the last session's line, spoiled
    before = api.held()
    answer = api.upload("\n".join(lines).encode(), name="memchat-ali.jsonl")
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert message.startswith(f"memchat-ali.jsonl:{len(lines) - 2}: "), message
    assert api.held() == before


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b"", 400, "the request body is empty"),
        (b"Hello, I am not an export", 400, "upload:1: not valid JSON"),
        (b'{"type": "memchat-export", "version": 2}\n', 400, "no end line"),
        (zipped({"chats": []}, "notes.txt"), 400, "a ZIP without conversations.json"),
    ],
)
def test_what_is_no_export_is_refused(api: Api, body: bytes, status: int, said: str) -> None:
    answer = api.upload(body)
    assert answer.status_code == status, answer.text
    assert said in answer.json()["error"]["message"]
    assert api.held() == {"sara": ({}, []), "ali": ({}, [])}


def test_an_sdk_database_is_refused_with_the_way_to_import_one(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "conversation.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE agent_messages (id, session_id, message_data, created_at)")
    conn.close()
    answer = api.upload(path.read_bytes(), name="conversation.db")
    assert answer.status_code == 415, answer.text
    assert "memchat import FILE --user NAME" in answer.json()["error"]["message"]
    assert api.held() == {"sara": ({}, []), "ali": ({}, [])}


def test_without_a_token_nothing_is_imported(api: Api) -> None:
    answer = api.client.post("/api/import", content=zipped(chatgpt_export()))
    assert answer.status_code == 401
    spoiled = api.client.post(
        "/api/import",
        content=zipped(chatgpt_export()),
        headers={"Authorization": "Bearer mc_not-a-token"},
    )
    assert spoiled.status_code == 401
    assert api.held() == {"sara": ({}, []), "ali": ({}, [])}


def test_an_upload_over_the_limit_is_413_and_imports_nothing(store: Store) -> None:
    small = Api(store, max_import_bytes=LIMIT)
    with small.client:
        padded = chatgpt_export()
        padded[0]["title"] = "x" * LIMIT
        over = json.dumps(padded).encode()
        answer = small.upload(over)
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["message"] == (
            "the file is over 4,096 bytes, the most this server takes"
        )
        # Without a Content-Length (chunked) the count of what came decides.
        chunked = small.client.post(
            "/api/import", content=iter([over[:3000], over[3000:]]), headers=small.sara
        )
        assert chunked.status_code == 413, chunked.text
        # A ZIP under the limit that unpacks to more than it.
        bomb = zipped([{"mapping": {}, "pad": "x" * 10 * LIMIT}])
        assert len(bomb) < LIMIT
        unpacked = small.upload(bomb, name="export.zip")
        assert unpacked.status_code == 413, unpacked.text
        assert unpacked.json()["error"]["message"] == (
            "export.zip!conversations.json: over the limit of 4,096 bytes once unpacked"
        )
        assert small.held() == {"sara": ({}, []), "ali": ({}, [])}
        # Under the limit, an export goes in.
        assert small.upload(zipped(claude_export())).status_code == 200


def test_a_zip_that_lies_about_its_size_is_refused(store: Store) -> None:
    """zipfile unpacks no more than a ZIP declares, and a lie fails its checksum."""
    small = Api(store, max_import_bytes=LIMIT)
    with small.client:
        bomb = bytearray(zipped([{"mapping": {}, "pad": "x" * 10 * LIMIT}]))
        central = bomb.rindex(b"PK\x01\x02")  # the last entry: conversations.json
        local = bomb.rindex(b"PK\x03\x04")
        bomb[central + 24 : central + 28] = (100).to_bytes(4, "little")
        bomb[local + 22 : local + 26] = (100).to_bytes(4, "little")
        answer = small.upload(bytes(bomb))
        assert answer.status_code == 400, answer.text
        assert "CRC" in answer.json()["error"]["message"]
        assert small.held() == {"sara": ({}, []), "ali": ({}, [])}


# -- On a real socket: the body is refused as it arrives, never held whole. -----------


def raw_upload(live: LiveServer, headers: dict[str, str]) -> socket.socket:
    """A connection that has sent POST /api/import's head and no body yet."""
    host, port = live.url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=5)
    head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
    conn.sendall(f"POST /api/import HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())
    return conn


def answer_of(conn: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the response, read until the server closes."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if len(body) >= length:
                return int(head.split()[1]), json.loads(body[:length])
    raise AssertionError(f"no whole response: {data!r}")


@pytest.fixture
def live(sqlite_store: Store) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """uvicorn over the app, with the small limit and a read timeout of 1 s."""
    settings = load_settings().with_overrides(max_import_bytes=LIMIT, read_timeout=1)
    sara = add_user(sqlite_store, "sara")
    with LiveServer(scripted_app(sqlite_store, ScriptedModel(), settings)) as server:
        yield server, sara


def test_a_declared_size_over_the_limit_is_refused_before_the_body(
    live: tuple[LiveServer, dict[str, str]],
) -> None:
    server, sara = live
    with raw_upload(server, sara | {"Content-Length": str(10**10)}) as conn:
        status, body = answer_of(conn)
    assert (status, body["error"]["code"]) == (413, "too_large")


def test_a_chunked_upload_is_refused_once_over_the_limit(
    live: tuple[LiveServer, dict[str, str]],
) -> None:
    """The server answers while the upload is still open: it did not wait for the rest."""
    server, sara = live
    with raw_upload(server, sara | {"Transfer-Encoding": "chunked"}) as conn:
        piece = b"x" * 1024
        for _ in range(LIMIT // len(piece) + 1):
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        # No last chunk: a server reading to the end would wait, then answer 408.
        status, body = answer_of(conn)
    assert status == 413, body


def test_a_caller_without_a_token_is_refused_before_the_body(
    live: tuple[LiveServer, dict[str, str]],
) -> None:
    server, _ = live
    with raw_upload(server, {"Content-Length": "3000"}) as conn:
        status, _body = answer_of(conn)
    assert status == 401


def test_an_upload_that_stops_coming_is_408(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, sara = live
    with raw_upload(server, sara | {"Content-Length": "3000"}) as conn:
        conn.sendall(b"[" * 100)
        status, body = answer_of(conn)
    assert status == 408, body
    assert body["error"]["message"] == "the request body stopped coming for 1 s"


def test_a_client_that_leaves_mid_upload_is_no_crash(
    live: tuple[LiveServer, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    server, sara = live
    with raw_upload(server, sara | {"Content-Length": "3000"}) as conn:
        conn.sendall(b"[" * 100)
    # The server hears the disconnect at once; a crash would be logged within moments.
    time.sleep(0.5)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert server.thread.is_alive()
