"""Authentication and isolation: tokens, the admin role, and nobody reads anybody else."""

from __future__ import annotations

from pathlib import Path

import pytest
from agents.testing import ScriptedModel
from click.testing import CliRunner

from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import LastAdmin, UserNotFound
from memchat.store import SQLiteStore, Store, open_store
from memchat.store.tokens import hash_token

from .helpers import reply, user_message
from .server_harness import add_user, client, scripted_app, sse_events

# -- the store's tokens ------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        store.ensure_user("sara")
        token = store.create_token("sara")
        assert store.user_for_token(token) == store.get_user("sara")
        assert store.user_for_token(token + "x") is None
        assert store.user_for_token("") is None
    for path in db_path.parent.glob(db_path.name + "*"):
        data = path.read_bytes()
        assert token.encode() not in data, path
    with SQLiteStore(db_path) as store:
        assert store.user_for_token(token) is not None  # the hash survives a reopen
    assert len(hash_token(token)) == 64


def test_tokens_revoke_and_die_with_their_user(any_store: Store) -> None:
    store = any_store
    store.ensure_user("sara")
    first, second = store.create_token("sara"), store.create_token("sara")
    assert first != second
    assert store.revoke_tokens("sara") == 2
    assert store.user_for_token(first) is None and store.user_for_token(second) is None
    third = store.create_token("sara")
    store.delete_user("sara")
    assert store.user_for_token(third) is None
    with pytest.raises(UserNotFound):
        store.create_token("ghost")
    with pytest.raises(UserNotFound):
        store.revoke_tokens("ghost")


def test_admin_role(any_store: Store) -> None:
    store = any_store
    store.ensure_user("boss")
    assert store.is_admin("boss") is False
    store.set_admin("boss", True)
    assert store.is_admin("boss") is True
    store.ensure_user("deputy")
    store.set_admin("deputy", True)
    store.set_admin("boss", False)
    assert store.is_admin("boss") is False
    assert store.is_admin("ghost") is False
    with pytest.raises(UserNotFound):
        store.set_admin("ghost", True)


# -- the command line ----------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    app = App()
    result = CliRunner().invoke(cli, list(args), obj=app)
    return result.exit_code, result.stdout, result.output


def test_users_add_prints_the_token_alone_on_its_last_line() -> None:
    code, stdout, output = run("users", "add", "boss", "--admin")
    assert code == 0, output
    token = stdout.splitlines()[-1]
    assert stdout == token + "\n"  # stdout is the token alone; the note goes to stderr
    assert output.splitlines()[-1] == token
    with SQLiteStore(App().settings.db) as store:
        user = store.user_for_token(token)
        assert user is not None and user.name == "boss"
        assert store.is_admin("boss")
        assert not any(token in str(row) for row in store.list_users())

    code, _, output = run("users", "add", "boss")
    assert code == 1 and "already exists" in output and "memchat users token boss" in output
    code, stdout, _ = run("users", "token", "boss")
    assert code == 0 and stdout.strip().startswith("mc_") and stdout.strip() != token
    code, stdout, _ = run("users", "revoke", "boss")
    assert code == 0 and "revoked 2 token(s)" in stdout
    code, _, output = run("users", "token", "ghost")
    assert code == 1 and "no user 'ghost'" in output and "Traceback" not in output


def test_serve_checks_the_setup_and_runs_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append((target, kw)))
    monkeypatch.setenv("MEMCHAT_MODEL", "gpt-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = CliRunner().invoke(
        cli, ["--db", "team.db", "serve", "--port", "9123", "--workers", "3"], obj=App()
    )
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:9123/" in result.output
    assert "memchat users add NAME --admin" in result.output
    target, options = calls[0]
    assert target == "memchat.server.app:app_from_env"
    assert options["factory"] is True and options["workers"] == 3 and options["port"] == 9123
    import os

    assert os.environ["MEMCHAT_DB"] == "team.db"  # the workers' settings


def test_serve_without_a_model_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import memchat.models.resolve as resolve

    monkeypatch.setattr(resolve, "_embedded_model_installed", lambda: False)
    result = CliRunner().invoke(cli, ["serve"], obj=App())
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "Traceback" not in result.output


# -- isolation over HTTP -------------------------------------------------------------------


def test_a_user_cannot_reach_anything_of_another(any_store: Store) -> None:
    """User A (sara) tries every route on B's (ali's) resources: 404 or 403, never data."""
    store = any_store
    model = ScriptedModel([reply("noted")])
    http = client(scripted_app(store, model))
    sara = add_user(store, "sara")
    ali = add_user(store, "ali")
    with http:
        http.post("/api/sessions", json={"id": "diary"}, headers=ali)
        http.post("/api/sessions/diary/messages", json={"text": "my pin is 4321"}, headers=ali)
        http.post("/api/facts", json={"key": "pin", "value": "4321"}, headers=ali)
        fact_id = http.get("/api/facts", headers=ali).json()[0]["id"]
        before = store.get_turns(store.get_session("ali", "diary"))

        attempts = [
            ("GET", "/api/sessions/diary", None, 404),
            ("PATCH", "/api/sessions/diary", {"title": "mine now"}, 404),
            ("DELETE", "/api/sessions/diary", None, 404),
            ("POST", "/api/sessions/diary/clear", None, 404),
            ("GET", "/api/sessions/diary/messages", None, 404),
            ("POST", "/api/sessions/diary/messages", {"text": "what is my pin?"}, 404),
            ("GET", "/api/search?q=pin&session=diary", None, 404),
            ("GET", "/api/export?session=diary", None, 404),
            ("DELETE", "/api/facts/pin", None, 404),
            ("DELETE", f"/api/facts/{fact_id}", None, 404),
            ("GET", "/api/users", None, 403),
            ("POST", "/api/users", {"name": "mallory", "admin": True}, 403),
            ("DELETE", "/api/users/ali", None, 403),
            ("POST", "/api/users/ali/tokens", None, 403),
            ("DELETE", "/api/users/ali/tokens", None, 403),
        ]
        for method, path, body, status in attempts:
            answer = http.request(method, path, json=body, headers=sara)
            assert answer.status_code == status, (method, path, answer.text)
            assert "4321" not in answer.text

        # Nor do sara's own lists and searches show anything of ali's.
        for path in ("/api/sessions", "/api/facts", "/api/search?q=pin", "/api/export"):
            answer = http.get(path, headers=sara)
            assert answer.status_code == 200
            assert "4321" not in answer.text and "diary" not in answer.text, path

        # Ali's things are as they were, and the model never saw sara's question.
        assert store.get_turns(store.get_session("ali", "diary")) == before
        assert [f.key for f in store.list_facts("ali")] == ["pin"]
        assert len(model.calls) == 1
        assert store.find_session("ali", "diary") is not None


def test_same_session_id_is_a_different_session_per_user(store: Store) -> None:
    model = ScriptedModel([reply("hi sara"), reply("hi ali")])
    http = client(scripted_app(store, model))
    sara, ali = add_user(store, "sara"), add_user(store, "ali")
    with http:
        for headers, text in ((sara, "I am Sara"), (ali, "I am Ali")):
            assert http.post("/api/sessions", json={"id": "default"}, headers=headers).is_success
            events = sse_events(
                http.post(
                    "/api/sessions/default/messages", json={"text": text}, headers=headers
                ).text
            )
            assert events[-1][0] == "done"
        assert http.post("/api/sessions/default/clear", headers=sara).json()["turn_count"] == 0
        ali_turns = store.get_turns(store.get_session("ali", "default"))
        assert [t.items[0] for t in ali_turns] == [user_message("I am Ali")]
        assert model.last_call is not None
        assert "I am Sara" not in str(model.last_call.input)


def test_the_only_admin_stays(any_store: Store) -> None:
    store = any_store
    for name in ("boss", "deputy", "sara"):
        store.ensure_user(name)
    store.set_admin("boss", True)
    with pytest.raises(LastAdmin, match="'boss' is the only admin: make another admin first"):
        store.delete_user("boss")
    with pytest.raises(LastAdmin):
        store.set_admin("boss", False)
    store.delete_user("sara")  # not an admin
    store.set_admin("deputy", True)
    store.delete_user("boss")
    with pytest.raises(LastAdmin):
        store.delete_user("deputy")
    assert store.is_admin("deputy") and [u.name for u in store.list_users()] == ["deputy"]


def test_two_admins_deleting_each_other_at_once_leave_one(pg_url: str) -> None:
    """Each delete reads the admins; on PostgreSQL it locks them too, else both would see
    the other still there and both succeed."""
    import threading

    import psycopg

    from .pg import base_url, wait_for_waiters

    with open_store(pg_url) as store:
        for name in ("a", "b"):
            store.ensure_user(name)
            store.set_admin(name, True)
        schema = pg_url.split("schema=")[1]
        outcomes: dict[str, str] = {}

        def delete(name: str) -> None:
            try:
                store.delete_user(name)
                outcomes[name] = "deleted"
            except LastAdmin:
                outcomes[name] = "refused"

        # Hold admin a's row, so that both deletes are under way before either finishes.
        with psycopg.connect(base_url(pg_url)) as holder:
            holder.execute(f'SELECT 1 FROM "{schema}".users WHERE name = %s FOR UPDATE', ("a",))
            threads = [threading.Thread(target=delete, args=(name,)) for name in ("a", "b")]
            for thread in threads:
                thread.start()
            wait_for_waiters(pg_url, holder.info.backend_pid, 2)
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(outcomes.values()) == ["deleted", "refused"], outcomes
        assert len([u for u in store.list_users() if store.is_admin(u.name)]) == 1


def test_an_admin_cannot_delete_another_admin_over_http(store: Store) -> None:
    boss = add_user(store, "boss", admin=True)
    add_user(store, "deputy", admin=True)
    add_user(store, "sara")
    with client(scripted_app(store, ScriptedModel())) as http:
        answer = http.delete("/api/users/deputy", headers=boss)
        assert answer.status_code == 409
        assert answer.json()["error"]["message"] == (
            "'deputy' is an admin: admins are deleted with `memchat users delete deputy`"
        )
        assert store.is_admin("deputy")
        assert http.delete("/api/users/sara", headers=boss).status_code == 204


def test_users_delete_refuses_the_only_admin() -> None:
    code, _, _ = run("users", "add", "boss", "--admin")
    assert code == 0
    code, _, output = run("users", "delete", "boss", "--yes")
    assert code == 1
    assert "Error: 'boss' is the only admin: make another admin first" in output
    code, _, output = run("users", "list")
    assert "boss" in output
