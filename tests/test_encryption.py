"""Encryption at rest: content sealed in the file, readable only with the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agents import Agent
from agents.testing import ScriptedModel
from click.testing import CliRunner

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import ConfigError, CorruptData, MemchatError, StoreError
from memchat.memory.context import Memory, store_recall
from memchat.store import open_store
from memchat.store.crypto import generate_key

from .helpers import reply, system_notes, texts_of

SECRET = "xylophone-42"


def file_bytes(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


async def test_content_is_sealed_and_the_chat_still_remembers(db_path: Path) -> None:
    key = generate_key()
    model = ScriptedModel([reply(f"Noted, {SECRET}."), reply("It is xylophone-42.")])
    with open_store(db_path, encryption_key=key) as store:
        chat = Chat(
            Agent(name="a", model=model), memory=Memory(store, 4000, recall=store_recall(store))
        )
        session = store.session("sara")
        await chat.run_turn(session, f"My name is Sara and my password is {SECRET}")
        store.set_summary(session.info, 1, f"Sara's password is {SECRET}")
        await chat.run_turn(session, "What is my password?")
        assert store.get_session("sara", "default").title is not None
    assert model.last_call is not None
    # Facts and the summary reached the model, decrypted.
    notes = system_notes(model.last_call.input)
    assert "- name: Sara" in notes and f"Sara's password is {SECRET}" in notes
    raw = file_bytes(db_path)
    assert SECRET.encode() not in raw and b"Sara and my" not in raw and b"- name" not in raw

    with open_store(db_path, encryption_key=key) as store:
        info = store.get_session("sara", "default")
        assert f"my password is {SECRET}" in json.dumps(store.get_items(info))
        assert info.title is not None and SECRET in info.title
        assert {f.value for f in store.list_facts("sara")} == {"Sara", SECRET}


def test_without_the_key_or_with_another_a_clear_error(db_path: Path) -> None:
    with open_store(db_path, encryption_key=generate_key()) as store:
        info = store.ensure_session("sara", "default")
        store.commit_turn(info, [{"role": "user", "content": SECRET}])
    with open_store(db_path) as store, pytest.raises(StoreError, match="set MEMCHAT_ENCRYPTION"):
        store.get_items(store.get_session("sara", "default"))
    with (
        open_store(db_path, encryption_key=generate_key()) as store,
        pytest.raises(CorruptData, match="wrong key"),
    ):
        store.get_items(store.get_session("sara", "default"))


def test_keys_rotate(db_path: Path) -> None:
    old, new = generate_key(), generate_key()
    with open_store(db_path, encryption_key=old) as store:
        store.commit_turn(store.ensure_session("sara", "a"), [{"role": "user", "content": "one"}])
    with open_store(db_path, encryption_key=f"{new},{old}") as store:
        info = store.ensure_session("sara", "a")
        store.commit_turn(info, [{"role": "user", "content": "two"}])
        assert texts_of(store.get_items(info)) == ["one", "two"]


def test_search_says_it_is_off(db_path: Path) -> None:
    with open_store(db_path, encryption_key=generate_key()) as store:
        store.commit_turn(store.ensure_session("sara", "a"), [{"role": "user", "content": "x"}])
        with pytest.raises(MemchatError, match="encrypted"):
            store.search("sara", "x")


def test_a_bad_key_is_a_config_error(db_path: Path) -> None:
    with pytest.raises(ConfigError, match="memchat keygen"):
        open_store(db_path, encryption_key="not-a-key")


def test_keygen_and_the_cli_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = CliRunner().invoke(cli, ["keygen"], obj=App()).output.strip()
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", key)
    model = ScriptedModel([reply("hi")])
    app = App(
        model_factory=lambda _: __import__("memchat.models").models.ModelChoice(model, "s", "t")
    )
    result = CliRunner().invoke(cli, ["ask", "-u", "sara", f"my secret is {SECRET}"], obj=app)
    assert result.exit_code == 0, result.output
    out = CliRunner().invoke(cli, ["search", "-u", "sara", "secret"], obj=App())
    assert out.exit_code == 1 and "encrypted" in out.output
