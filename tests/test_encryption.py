"""Encryption at rest: content sealed in the store, readable only with the key.

The contract tests run on SQLite and on PostgreSQL (``store_location``, conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from agents import Agent
from agents.testing import ScriptedModel
from click.testing import CliRunner

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import (
    ConfigError,
    CorruptData,
    KeyMismatch,
    SearchUnavailable,
    StoreError,
    UnsealedData,
)
from memchat.memory.context import Memory, store_recall
from memchat.memory.forget import forget_fact
from memchat.store import open_store
from memchat.store.base import SessionRecord, Turn
from memchat.store.crypto import generate_key
from memchat.store.sealing import reseal, sealable

from .helpers import reply, system_notes, texts_of, user_message
from .pg import base_url

SECRET = "xylophone-42"
# What any copy of the secret would show: a search index keeps it stemmed ("xylophon").
TRACE = "xylophon"


def stored(location: str) -> str:
    """Everything the store holds as written: the SQLite files, or every PostgreSQL row.

    For PostgreSQL, each row of every table of the test's schema, cast to text (which
    spells out a tsvector's lexemes too).
    """
    if not location.startswith("postgresql://"):
        path = Path(location)
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        return raw.decode("utf-8", "replace")
    import psycopg
    from psycopg import sql

    schema = parse_qs(urlsplit(location).query)["schema"][0]
    with psycopg.connect(base_url(location)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        ]
        assert {"items", "messages", "sessions", "facts", "summaries"} <= set(tables)
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(
                sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
        )


async def test_content_is_sealed_and_the_chat_still_remembers(store_location: str) -> None:
    key = generate_key()
    model = ScriptedModel([reply(f"Noted, {SECRET}."), reply("It is xylophone-42.")])
    with open_store(store_location, encryption_key=key) as store:
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
    raw = stored(store_location)
    assert "enc1:" in raw  # the dump holds the sealed rows
    for plain in (TRACE, "Sara and my", "- name"):
        assert plain not in raw

    with open_store(store_location, encryption_key=key) as store:
        info = store.get_session("sara", "default")
        assert f"my password is {SECRET}" in json.dumps(store.get_items(info))
        assert info.title is not None and SECRET in info.title
        assert {f.value for f in store.list_facts("sara")} == {"Sara", SECRET}


def test_every_title_is_sealed(store_location: str) -> None:
    """Titles given, renamed, imported or taken from the first message."""
    with open_store(store_location, encryption_key=generate_key()) as store:
        store.create_session("sara", "given", title=f"given {SECRET}")
        store.create_session("sara", "renamed")
        store.rename_session("sara", "renamed", f"renamed {SECRET}")
        store.commit_turn(store.create_session("sara", "derived"), [user_message(SECRET)])
        turn = Turn(1, "2020-01-01T00:00:00.000000Z", [user_message("hi")])
        store.import_sessions(
            [SessionRecord("sara", "imported", f"imported {SECRET}", turn.created_at, {}, [turn])]
        )
        titles = {s.id: s.title for s in store.list_sessions("sara")}
    assert titles == {
        "given": f"given {SECRET}",
        "renamed": f"renamed {SECRET}",
        "derived": SECRET,
        "imported": f"imported {SECRET}",
    }
    assert TRACE not in stored(store_location)


def test_without_the_key_or_with_another_a_clear_error(store_location: str) -> None:
    with open_store(store_location, encryption_key=generate_key()) as store:
        info = store.ensure_session("sara", "default")
        store.commit_turn(info, [{"role": "user", "content": SECRET}])
        store.set_fact("sara", "word", SECRET, "manual")
        store.set_summary(info, 1, SECRET)
    with open_store(store_location) as store:
        for read in (
            lambda: store.get_session("sara", "default"),  # its title
            lambda: store.get_items(info),
            lambda: store.list_facts("sara"),
            lambda: store.get_summary(info),
        ):
            with pytest.raises(StoreError, match="set MEMCHAT_ENCRYPTION_KEY to read it"):
                read()
    # Another key is refused when the store opens (sealing.py), before any read.
    with pytest.raises(KeyMismatch, match=r"set the right key, or .* `memchat rekey`"):
        open_store(store_location, encryption_key=generate_key())
    # Should a value under another key get past that (a row a store with both keys wrote
    # after the open), reading it says so.
    with open_store(store_location, encryption_key=generate_key(), check_sealed=False) as store:
        with pytest.raises(CorruptData, match="wrong key"):
            store.get_items(info)
        with pytest.raises(CorruptData, match="wrong key"):
            store.list_sessions("sara")


def test_rows_written_before_the_key_are_refused_until_sealed(store_location: str) -> None:
    """They used to be read, and kept in plaintext for good (see test_sealing.py)."""
    with open_store(store_location) as store:
        info = store.ensure_session("sara", "a")
        store.commit_turn(info, [user_message("plain words")])
        store.set_fact("sara", "city", "Lyon", "manual")
        store.set_summary(info, 1, "talked about words")
    key = generate_key()
    with pytest.raises(UnsealedData, match="run `memchat encrypt`"):
        open_store(store_location, encryption_key=key)
    with open_store(store_location, encryption_key=key, check_sealed=False) as store:
        reseal(sealable(store))
    with open_store(store_location, encryption_key=key) as store:
        info = store.get_session("sara", "a")
        assert info.title == "plain words"
        store.commit_turn(info, [user_message(SECRET)])
        assert texts_of(store.get_items(info)) == ["plain words", SECRET]
        assert [f.value for f in store.list_facts("sara")] == ["Lyon"]
        summary = store.get_summary(info)
        assert summary is not None and summary.text == "talked about words"
    assert TRACE not in stored(store_location)


def test_keys_rotate(store_location: str) -> None:
    old, new = generate_key(), generate_key()
    with open_store(store_location, encryption_key=old) as store:
        store.commit_turn(store.ensure_session("sara", "a"), [{"role": "user", "content": "one"}])
    with open_store(store_location, encryption_key=f"{new},{old}") as store:
        info = store.ensure_session("sara", "a")
        store.commit_turn(info, [{"role": "user", "content": "two"}])
        assert texts_of(store.get_items(info)) == ["one", "two"]
    # Rows are under both keys until `memchat rekey` moves them: the new one alone is refused.
    with pytest.raises(KeyMismatch, match="memchat rekey"):
        open_store(store_location, encryption_key=new)


def test_search_says_it_is_off_and_recall_finds_nothing(store_location: str) -> None:
    with open_store(store_location) as plain:
        assert plain.searchable
    with open_store(store_location, encryption_key=generate_key()) as store:
        assert not store.searchable
        store.commit_turn(store.ensure_session("sara", "a"), [{"role": "user", "content": "x"}])
        with pytest.raises(SearchUnavailable, match="encrypted"):
            store.search("sara", "x")
        assert store.match_messages("sara", ["x"], limit=5) == []
        # Forgetting asks the store whether it searches, rather than taking an error for
        # "no": the fact goes, and no message needs hiding, since none is recalled.
        store.set_fact("sara", "home", "x", "test")
        assert forget_fact(store, "sara", "home").messages == 0
        assert store.list_facts("sara") == []


def test_a_bad_key_is_a_config_error(store_location: str) -> None:
    with pytest.raises(ConfigError, match="memchat keygen"):
        open_store(store_location, encryption_key="not-a-key")


def test_keygen_and_the_cli_with_a_key(
    store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = CliRunner().invoke(cli, ["keygen"], obj=App()).output.strip()
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", key)
    monkeypatch.setenv("MEMCHAT_DB", store_location)
    model = ScriptedModel([reply("hi")])
    app = App(
        model_factory=lambda _: __import__("memchat.models").models.ModelChoice(model, "s", "t")
    )
    result = CliRunner().invoke(cli, ["ask", "-u", "sara", f"my secret is {SECRET}"], obj=app)
    assert result.exit_code == 0, result.output
    out = CliRunner().invoke(cli, ["search", "-u", "sara", "secret"], obj=App())
    assert out.exit_code == 1 and "encrypted" in out.output
    assert TRACE not in stored(store_location)


def test_earlier_fact_values_are_sealed_and_rekeyed(store_location: str) -> None:
    old, new = generate_key(), generate_key()
    with open_store(store_location, encryption_key=old) as store:
        info = store.ensure_session("sara", "a")
        for text in ("I live in Xylophonia", "I moved to Marimbaville"):
            seq = store.commit_turn(info, [user_message(text)])
            Memory(store, 4000).learn(info, text, seq)
        assert [v.value for v in store.fact_history("sara", "home")] == ["Xylophonia"]
    assert "Xylophonia" not in stored(store_location)
    with open_store(store_location, encryption_key=f"{new},{old}", check_sealed=False) as store:
        report = reseal(sealable(store))
    assert report.rekeyed >= 3  # two items, the fact and its earlier value
    with open_store(store_location, encryption_key=new) as store:
        assert [v.value for v in store.fact_history("sara", "home")] == ["Xylophonia"]
