"""The SQLite store: migrations, durability across processes, corrupt data, locking."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.errors import CorruptData, InvalidName, SessionExists, StoreError
from memchat.store import SQLiteStore, Store, open_store
from memchat.store.migrations import MIGRATIONS, migrate

from .helpers import reply, texts_of, user_message

ROOT = Path(__file__).parents[1]


def run_worker(
    db: Path, user: str, session: str, tag: str, turns: int, out: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.turn_worker",
            str(db),
            user,
            session,
            tag,
            str(turns),
            str(out),
        ],
        cwd=ROOT,
    )


async def test_remembers_after_restart_in_a_new_process(db_path: Path, tmp_path: Path) -> None:
    """The seed's promise: tell it in one process, ask in the next."""
    worker = run_worker(db_path, "sara", "default", "My name is Sara", 1, tmp_path / "log")
    assert worker.wait(60) == 0
    model = ScriptedModel([reply("Your name is Sara.")])
    with SQLiteStore(db_path) as store:
        await Chat(Agent(name="a", model=model)).run_turn(store.session("sara"), "What's my name?")
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [
        "My name is Sara-0",
        "echo: My name is Sara-0",
        "What's my name?",
    ]


def test_processes_on_one_session_never_interleave(db_path: Path, tmp_path: Path) -> None:
    workers = [
        run_worker(db_path, "sara", "shared", f"p{n}", 15, tmp_path / f"log{n}") for n in range(4)
    ]
    assert [w.wait(120) for w in workers] == [0, 0, 0, 0]
    with SQLiteStore(db_path) as store:
        turns = store.get_turns(store.get_session("sara", "shared"))
    assert len(turns) == 60
    history: list[str] = []
    for turn in turns:
        user, answer = texts_of(turn.items)
        assert answer == f"echo: {user}"  # every turn whole: its own input and reply
        history += [user, answer]
    # Each turn's model input was exactly the history committed before it: no process
    # read a stale history or had its turn split by another's.
    inputs = [
        json.loads(line)
        for n in range(4)
        for line in (tmp_path / f"log{n}").read_text().splitlines()
    ]
    by_message = {texts_of(i)[-1]: texts_of(i)[:-1] for i in inputs}
    for index in range(0, len(history), 2):
        assert by_message[history[index]] == history[:index]


def test_open_store_accepts_a_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "url.db"
    with open_store(f"sqlite:///{path}") as store:
        store.ensure_user("sara")
    with SQLiteStore(path) as store:
        assert [u.name for u in store.list_users()] == ["sara"]


def test_wal_and_full_sync(store: SQLiteStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_migrations_are_recorded_and_idempotent(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn) == []
    names = [row[0] for row in conn.execute("SELECT name FROM memchat_migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_failed_migration_leaves_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    broken = [("0001_ok", ("CREATE TABLE a (x)",)), ("0002_bad", ("CREATE TABLE b (x)", "NOT SQL"))]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in tables and "b" not in tables
    assert [r[0] for r in conn.execute("SELECT name FROM memchat_migrations")] == ["0001_ok"]


def test_database_from_a_newer_memchat_is_refused(db_path: Path) -> None:
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO memchat_migrations (name) VALUES ('9999_future')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer memchat"):
        SQLiteStore(db_path)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        SQLiteStore(path)


def test_corrupt_item_is_an_error_not_a_skip(store: Store, db_path: Path) -> None:
    session = store.ensure_session("sara", "default")
    store.commit_turn(session, [user_message("hello")])
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE items SET data = '{broken'")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptData, match="sara/default: item 1 is corrupt"):
        store.get_items(session)


def test_names_are_validated(store: Store) -> None:
    for bad in ("", "a/b", "x" * 65, "new\nline", "a b", "'; DROP TABLE users; --"):
        with pytest.raises(InvalidName):
            store.ensure_user(bad)
    with pytest.raises(InvalidName):
        store.create_session("sara", "../../etc")
    assert store.ensure_user("Zoë.o'neil".replace("'", "")).name == "Zoë.oneil"


def test_session_ids_are_unique_per_user(store: Store) -> None:
    store.create_session("sara", "work")
    store.create_session("ali", "work")
    with pytest.raises(SessionExists):
        store.create_session("sara", "work")


def test_turn_bookkeeping(store: Store) -> None:
    session = store.ensure_session("sara", "default")
    first = store.commit_turn(session, [user_message("one"), user_message("reply")])
    second = store.commit_turn(session, [user_message("two")])
    assert (first, second) == (1, 2)
    info = store.get_session("sara", "default")
    assert info.turn_count == 2 and info.title == "one"
    popped = store.pop_turn(info)
    assert popped is not None and texts_of(popped.items) == ["two"]
    assert store.commit_turn(info, [user_message("three")]) == 3  # seq never reused
    assert store.pop_item(info) == user_message("three")
    assert store.get_session("sara", "default").turn_count == 1
    store.delete_user("sara")
    assert store.list_users() == []


def test_prune_deletes_old_turns_and_empty_sessions(store: Store) -> None:
    old = store.ensure_session("sara", "old")
    mixed = store.ensure_session("sara", "mixed")
    store.commit_turn(old, [user_message("ancient")], created_at="2020-01-01T00:00:00.000000Z")
    store.commit_turn(mixed, [user_message("old one")], created_at="2020-01-01T00:00:00.000000Z")
    store.commit_turn(mixed, [user_message("new one")])
    store.set_summary(mixed, 1, "mentions old one")
    store.ensure_user("ali")
    ali = store.ensure_session("ali", "x")
    store.commit_turn(ali, [user_message("ali old")], created_at="2020-01-01T00:00:00.000000Z")

    report = store.prune("2021-01-01T00:00:00.000000Z", user="sara")
    assert (report.turns, report.sessions) == (2, 1)
    assert store.find_session("sara", "old") is None
    remaining = store.get_session("sara", "mixed")
    assert remaining.turn_count == 1
    assert texts_of(store.get_items(remaining)) == ["new one"]
    assert store.get_summary(remaining) is None  # it remembered pruned content
    assert texts_of(store.get_items(ali)) == ["ali old"]  # another user untouched


def test_deleted_user_leaves_no_trace_in_the_file(db_path: Path) -> None:
    with SQLiteStore(db_path) as store:
        info = store.ensure_session("sara", "default")
        store.commit_turn(info, [user_message("my secret is xylophone-42")])
        store.set_fact("sara", "secret", "xylophone-42", "manual")
        store.set_summary(info, 1, "secret xylophone-42")
        store.delete_user("sara")
        store.vacuum()
    for path in db_path.parent.glob(db_path.name + "*"):
        assert b"xylophone-42" not in path.read_bytes(), path
