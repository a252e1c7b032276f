"""Full-text search over a user's messages, and the index kept in step with every write."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ScriptedModel
from click.testing import CliRunner

from memchat.cli import cli
from memchat.cli.app import App
from memchat.models import ModelChoice
from memchat.store import SessionInfo, SQLiteStore, Store
from memchat.store.base import SessionRecord, Turn
from memchat.store.sqlite.schema import MIGRATIONS, migrate

from .helpers import reply, user_message

FILLER = [
    "the weather was grey all week",
    "I repainted the kitchen a pale green",
    "my sister visits on Sunday",
    "the train was late again this morning",
    "we watched a film about whales",
    "I should call the plumber about the sink",
    "the garden needs water before the heat",
    "my laptop battery barely lasts an hour",
]


def assistant(text: str) -> dict[str, Any]:
    """An assistant message as the SDK stores one."""
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def say(store: Store, session: SessionInfo, *texts: str, created_at: str | None = None) -> None:
    """One turn: the first text from the user, the rest from the assistant."""
    items: list[Any] = [user_message(texts[0]), *(assistant(text) for text in texts[1:])]
    store.commit_turn(session, items, created_at=created_at)


def with_filler(store: Store, user: str = "sara", session_id: str = "filler") -> SessionInfo:
    """A session of unrelated messages, so that bm25 weighs the words of a test fairly."""
    session = store.ensure_session(user, session_id)
    for text in FILLER:
        say(store, session, text)
    return session


def indexed_ids(db_path: Path) -> set[int]:
    """The item ids the full-text table holds, read with a connection of its own."""
    with sqlite3.connect(db_path) as conn:
        return {row[0] for row in conn.execute("SELECT rowid FROM items_fts")}


def message_ids(db_path: Path) -> set[int]:
    """The ids of the stored items that are user or assistant messages."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT id, data FROM items").fetchall()
    return {i for i, data in rows if json.loads(data).get("role") in ("user", "assistant")}


def test_search_finds_ranks_by_bm25_and_highlights(any_store: Store) -> None:
    with_filler(any_store)
    food = any_store.ensure_session("sara", "food")
    say(any_store, food, "I love dumplings", "Dumplings, dumplings and more dumplings!")
    say(any_store, food, "what about noodles")
    hits = any_store.search("sara", "dumplings")
    assert [hit.item_id for hit in hits] and len(hits) == 2
    assert hits[0].snippet == "[Dumplings], [dumplings] and more [dumplings]!"
    assert hits[1].snippet == "I love [dumplings]"
    assert hits[0].score > hits[1].score > 0
    assert (hits[0].role, hits[1].role) == ("assistant", "user")
    assert hits[0].session_id == "food" and hits[0].session_title == "I love dumplings"
    assert hits[0].seq == 1 and hits[0].created_at.startswith("20")
    marked = any_store.search("sara", "noodles", highlight=("<b>", "</b>"))
    assert [hit.snippet for hit in marked] == ["what about <b>noodles</b>"]


def test_all_words_first_then_any(any_store: Store) -> None:
    with_filler(any_store)
    trip = any_store.ensure_session("sara", "trip")
    say(any_store, trip, "we fly to Lisbon in June")
    say(any_store, trip, "Lisbon has lovely tiles")
    assert [h.snippet for h in any_store.search("sara", "lisbon june")] == [
        "we fly to [Lisbon] in [June]"
    ]
    either = any_store.search("sara", "lisbon zebra")
    assert sorted(h.snippet for h in either) == [
        "[Lisbon] has lovely tiles",
        "we fly to [Lisbon] in June",
    ]
    assert any_store.search("sara", "zebra giraffe") == []


def test_words_match_across_forms_and_accents(any_store: Store) -> None:
    session = any_store.ensure_session("sara", "s")
    say(any_store, session, "the flight was cancelled, so we sat in a café")
    assert len(any_store.search("sara", "flights")) == 1
    assert len(any_store.search("sara", "CAFE")) == 1


def test_search_is_scoped_to_the_user_and_the_session(any_store: Store) -> None:
    with_filler(any_store, "sara")
    with_filler(any_store, "ali")
    say(any_store, any_store.ensure_session("sara", "a"), "my secret recipe uses saffron")
    say(any_store, any_store.ensure_session("sara", "b"), "saffron is pricey")
    say(any_store, any_store.ensure_session("ali", "a"), "ali also buys saffron")
    assert {h.session_id for h in any_store.search("sara", "saffron")} == {"a", "b"}
    assert [h.snippet for h in any_store.search("ali", "saffron")] == ["ali also buys [saffron]"]
    assert [h.session_id for h in any_store.search("sara", "saffron", session_id="b")] == ["b"]
    assert any_store.search("nobody", "saffron") == []
    assert len(any_store.search("sara", "saffron", limit=1)) == 1


def test_only_user_and_assistant_text_is_indexed(any_store: Store) -> None:
    session = any_store.ensure_session("sara", "s")
    call = {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "walrus"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "walrus facts"}
    system = {"role": "system", "content": "walrus instructions"}
    any_store.commit_turn(session, [user_message("tell me"), call, output, system])
    assert any_store.search("sara", "walrus") == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        '"',
        '""',
        "'",
        "*",
        "dumplings*",
        "AND",
        "OR",
        "NOT dumplings",
        "dumplings AND",
        "NEAR(a b)",
        "(",
        ")",
        "-dumplings",
        "^dumplings",
        "text:dumplings",
        "{text} : dumplings",
        "rank MATCH 1",
        "Robert'); DROP TABLE items;--",
        "😀 🍜",
        "ßtraße naïve 中文 עברית",
        "\x00\x01",
        "dumplings " * 5000,
    ],
)
def test_any_query_text_is_safe(any_store: Store, query: str) -> None:
    session = any_store.ensure_session("sara", "s")
    for text in SEARCHED:
        say(any_store, session, text)
    hits = any_store.search("sara", query)
    assert {SEARCHED[hit.seq - 1] for hit in hits} == expected_hits(query)
    assert len(hits) == len(expected_hits(query))  # each message once
    assert len(any_store.get_items(session)) == len(SEARCHED)  # nothing was dropped


# The messages test_any_query_text_is_safe searches, one turn each.
SEARCHED = ["I love dumplings and NEAR things", "Noodles or rice? Not sure."]


def expected_hits(query: str) -> set[str]:
    """The search rule as the README states it, written out rather than taken from the
    store: the query is plain words (never syntax); the messages that hold all of them, or
    if none does, those that hold any."""
    asked = set(re.findall(r"\w+", query.lower()))
    held = {text: set(re.findall(r"\w+", text.lower())) for text in SEARCHED}
    every = {text for text, words in held.items() if asked and asked <= words}
    return every or {text for text, words in held.items() if asked & words}


def test_the_written_out_rule_tells_the_queries_apart() -> None:
    """Some queries find the first message, some the second, some both, some neither."""
    love, noodles = SEARCHED
    assert expected_hits("dumplings AND") == {love}
    assert expected_hits("OR") == {noodles}
    assert expected_hits("NOT dumplings") == {love, noodles}
    assert expected_hits("rank MATCH 1") == set()


def test_match_messages_finds_a_reply_by_its_question(any_store: Store) -> None:
    with_filler(any_store)
    session = any_store.ensure_session("sara", "quiz")
    say(any_store, session, "What is the capital of Portugal?", "Lisbon.")
    say(any_store, session, "and of Spain?", "Madrid.")
    matches = any_store.match_messages("sara", ["portugal"], limit=10)
    by_text = {m.text: m for m in matches}
    assert set(by_text) == {"What is the capital of Portugal?", "Lisbon.", "and of Spain?"}
    assert matches[0].text == "What is the capital of Portugal?"
    question = by_text["What is the capital of Portugal?"]
    assert by_text["Lisbon."].previous == (question.item_id,)
    assert by_text["and of Spain?"].previous == (by_text["Lisbon."].item_id, question.item_id)
    # Weighted to nothing, context no longer matches.
    only_own = any_store.match_messages("sara", ["portugal"], limit=10, context_weights=(0, 0))
    assert [m.text for m in only_own if m.score > 0] == ["What is the capital of Portugal?"]
    fetched = any_store.get_messages("sara", [by_text["Lisbon."].item_id, 10**9])
    assert [(m.text, m.role, m.score) for m in fetched] == [("Lisbon.", "assistant", 0.0)]
    assert any_store.get_messages("ali", [by_text["Lisbon."].item_id]) == []


# -- the index stays in step (SQLite: checked against the FTS table itself) ---------------


def test_index_follows_pop_undo_replace_and_clear(sqlite_store: Store, db_path: Path) -> None:
    session = sqlite_store.ensure_session("sara", "s")
    say(sqlite_store, session, "first question about otters", "otters hold hands")
    say(sqlite_store, session, "second question about beavers", "beavers build dams")
    sqlite_store.sync_search_index()  # type: ignore[attr-defined]
    assert indexed_ids(db_path) == message_ids(db_path) and len(indexed_ids(db_path)) == 4
    sqlite_store.pop_item(session)
    assert sqlite_store.search("sara", "dams") == []
    assert indexed_ids(db_path) == message_ids(db_path)
    asyncio.run(sqlite_store.session("sara", "s").pop_turn())
    assert sqlite_store.search("sara", "beavers") == []
    sqlite_store.commit_turn(session, [user_message("about herons")], replace_last=True)
    # The replaced turn stays, on a branch: found, and marked so.
    assert {hit.branch for hit in sqlite_store.search("sara", "otters")} == {1}
    assert len(sqlite_store.search("sara", "herons")) == 1
    assert indexed_ids(db_path) == message_ids(db_path)
    sqlite_store.clear_session(session)
    assert indexed_ids(db_path) == set()


def test_writes_are_indexed_before_the_next_search_even_with_reused_ids(
    sqlite_store: Store, db_path: Path
) -> None:
    session = sqlite_store.ensure_session("sara", "s")
    say(sqlite_store, session, "otters hold hands", "they do")
    assert indexed_ids(db_path) == set()  # a turn write does not touch the index
    assert [h.seq for h in sqlite_store.search("sara", "otters")] == [1]
    assert indexed_ids(db_path) == message_ids(db_path)
    # Deleting the newest item frees its id; the next item reuses it and must be indexed.
    popped_id = max(message_ids(db_path))
    sqlite_store.pop_item(session)
    sqlite_store.commit_turn(session, [user_message("herons nest in reeds")])
    assert max(message_ids(db_path)) == popped_id
    assert [h.seq for h in sqlite_store.search("sara", "herons")] == [2]
    assert indexed_ids(db_path) == message_ids(db_path)


def test_deleting_a_session_or_user_cascades_into_the_index(
    sqlite_store: Store, db_path: Path
) -> None:
    say(sqlite_store, sqlite_store.ensure_session("sara", "a"), "penguins waddle")
    say(sqlite_store, sqlite_store.ensure_session("sara", "b"), "penguins swim")
    say(sqlite_store, sqlite_store.ensure_session("ali", "a"), "penguins slide")
    sqlite_store.sync_search_index()  # type: ignore[attr-defined]
    sqlite_store.delete_session("sara", "a")
    assert [h.session_id for h in sqlite_store.search("sara", "penguins")] == ["b"]
    assert len(indexed_ids(db_path)) == 2
    # Items go by ON DELETE CASCADE from users to sessions to items: the trigger still fires.
    sqlite_store.delete_user("sara")
    assert indexed_ids(db_path) == message_ids(db_path) and len(indexed_ids(db_path)) == 1
    assert len(sqlite_store.search("ali", "penguins")) == 1


def test_prune_leaves_no_pruned_text_as_context(sqlite_store: Store, db_path: Path) -> None:
    session = sqlite_store.ensure_session("sara", "s")
    say(
        sqlite_store,
        session,
        "old secret: the vault code",
        created_at="2020-01-01T00:00:00.000000Z",
    )
    say(
        sqlite_store,
        session,
        "new topic: kites",
        "kites fly",
        created_at="2030-01-01T00:00:00.000000Z",
    )
    sqlite_store.prune("2021-01-01T00:00:00.000000Z", user="sara")
    assert sqlite_store.match_messages("sara", ["vault"], limit=10) == []
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT text, context1, context2 FROM items_fts").fetchall()
    assert rows == [("new topic: kites", "", ""), ("kites fly", "new topic: kites", "")]
    sqlite_store.vacuum()
    assert len(sqlite_store.search("sara", "kites")) == 2


def test_appends_and_imports_are_indexed(sqlite_store: Store, db_path: Path) -> None:
    session = sqlite_store.ensure_session("sara", "s")
    say(sqlite_store, session, "plan the picnic")
    sqlite_store.append_to_last_turn(session, [assistant("bring lemonade")])
    imported = Turn(1, "2023-05-08T13:56:00Z", [user_message("imported hello"), assistant("hi")])
    sqlite_store.import_sessions(
        [SessionRecord("ali", "old", None, "2023-05-08T13:56:00Z", {}, [imported])]
    )
    [lemonade] = sqlite_store.search("sara", "lemonade")
    assert lemonade.role == "assistant" and lemonade.seq == 1
    [hello] = sqlite_store.search("ali", "imported")
    assert hello.created_at == "2023-05-08T13:56:00Z"
    assert indexed_ids(db_path) == message_ids(db_path)


def test_migration_indexes_an_existing_database(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("INSERT INTO users (name, created_at) VALUES ('sara', '2024-01-01')")
    conn.execute(
        "INSERT INTO sessions (user_id, key, created_at, updated_at, turn_count, last_seq)"
        " VALUES (1, 'old', '2024-01-01', '2024-01-01', 1, 1)"
    )
    for data in (user_message("where is my umbrella"), assistant("by the door"), {"type": "x"}):
        conn.execute(
            "INSERT INTO items (session_id, seq, created_at, data) VALUES (1, 1, '2024-01-01', ?)",
            (json.dumps(data),),
        )
    conn.close()
    with SQLiteStore(db_path) as store:
        assert [h.snippet for h in store.search("sara", "umbrella")] == ["where is my [umbrella]"]
        [reply] = store.match_messages("sara", ["umbrella"], limit=5, context_weights=(1, 0))[1:]
        assert reply.text == "by the door" and reply.previous == (1,)
    assert indexed_ids(db_path) == {1, 2}


# -- the command line ------------------------------------------------------------------------


def test_search_command(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with SQLiteStore(db) as store:
        with_filler(store)
        say(store, store.ensure_session("sara", "trip"), "we fly to Lisbon", "Lisbon it is")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--db", str(db), "search", *args], obj=App())
        assert result.exit_code == 0, result.output
        return result.output

    shown = run("lisbon", "-u", "sara")
    assert "trip · we fly to Lisbon" in shown and "we fly to Lisbon" in shown
    hits = json.loads(run("lisbon", "-u", "sara", "--json", "--limit", "1"))
    assert len(hits) == 1 and "[Lisbon]" in hits[0]["snippet"]
    assert "no matches" in run("zebra", "-u", "sara")
    failed = runner.invoke(cli, ["--db", str(db), "search", "x", "-u", "sara", "-s", "no"])
    assert failed.exit_code == 1 and "has no session 'no'" in failed.output


def test_search_in_the_chat(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    with SQLiteStore(db) as store:
        say(store, store.ensure_session("sara", "old"), "my locker code is 4417")
    model = ScriptedModel([reply("Noted.")])
    app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
    script = "I like kayaks\n/search locker\n/search kayaks\n/search\nexit\n"
    result = CliRunner().invoke(
        cli, ["--db", str(db), "chat", "-u", "sara", "--new"], obj=app, input=script
    )
    assert result.exit_code == 0, result.output
    assert "old · my locker code is 4417" in result.output  # another session's message
    # This session's turn, just written, is found too.
    assert " · I like kayaks · " in result.output
    assert "usage: /search QUERY" in result.output
