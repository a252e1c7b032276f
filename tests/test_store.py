"""The SQLite store's own behaviour: migrations, WAL, corrupt files (the rest: test_contract.py)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from memchat.errors import CorruptData, StoreError
from memchat.store import SQLiteStore, Store, open_store
from memchat.store.sqlite.schema import MIGRATIONS, migrate

from .helpers import user_message


def test_open_store_accepts_a_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "url.db"
    with open_store(f"sqlite:///{path}") as store:
        store.ensure_user("sara")
    with SQLiteStore(path) as store:
        assert [u.name for u in store.list_users()] == ["sara"]


def test_wal_and_full_sync(sqlite_store: SQLiteStore) -> None:
    conn = sqlite_store._conn
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


def test_corrupt_item_is_an_error_not_a_skip(sqlite_store: Store, db_path: Path) -> None:
    session = sqlite_store.ensure_session("sara", "default")
    sqlite_store.commit_turn(session, [user_message("hello")])
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE items SET data = '{broken'")
    conn.commit()
    conn.close()
    with pytest.raises(CorruptData, match="sara/default: item 1 is corrupt"):
        sqlite_store.get_items(session)


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


def test_the_database_and_its_folder_are_private_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    old = os.umask(0o022)
    try:
        with SQLiteStore(folder / "memchat.db") as store:
            info = store.create_session("sara", "s1")
            store.commit_turn(info, [user_message("Private words")])

            async def take_turn_lock() -> None:
                async with store.turn_lock(info):
                    pass

            asyncio.run(take_turn_lock())
            # While the store is open its WAL and shared-memory files exist too.
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    finally:
        os.umask(old)
    assert modes == {
        "memchat.db": 0o600,
        "memchat.db-wal": 0o600,
        "memchat.db-shm": 0o600,
        ".memchat.db.locks": 0o700,
    }
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch()
    db.chmod(0o640)
    with SQLiteStore(db) as store:
        store.ensure_user("sara")
    assert stat.S_IMODE(db.stat().st_mode) == 0o640
    with SQLiteStore(db) as store:
        assert [u.name for u in store.list_users()] == ["sara"]


def test_a_vacuum_whose_log_a_reader_pins_says_so(db_path: Path) -> None:
    """The WAL may still hold deleted pages: a vacuum that could not empty it fails."""
    with SQLiteStore(db_path) as store:
        store.commit_turn(store.ensure_session("sara", "s"), [user_message("hello")])
        reader = sqlite3.connect(db_path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM items").fetchone()
        store._conn.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StoreError, match="run the vacuum again"):
            store.vacuum()
        reader.execute("COMMIT")
        store.vacuum()
        reader.close()


def test_a_write_failing_midway_is_rolled_back_and_the_store_stays_writable(
    sqlite_store: SQLiteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regenerated reply whose insert fails after the old turn's delete keeps the old."""
    from memchat.store.sqlite import turns as backend

    info = sqlite_store.ensure_session("sara", "s")
    sqlite_store.commit_turn(info, [user_message("old")])

    def fail(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(backend, "insert_items", fail)
        with pytest.raises(StoreError, match="disk I/O error"):
            sqlite_store.commit_turn(info, [user_message("new")], replace_last=True)
    # This connection (not only another one) sees the old turn: the delete was undone.
    assert [t.items for t in sqlite_store.get_turns(info)] == [[user_message("old")]]
    sqlite_store.commit_turn(info, [user_message("next")])
    with SQLiteStore(db_path) as other:
        turns = other.get_turns(other.get_session("sara", "s"))
    assert [t.items for t in turns] == [[user_message("old")], [user_message("next")]]


def test_a_write_the_database_was_too_busy_for_runs_again_once(
    sqlite_store: SQLiteStore,
) -> None:
    """``Database.write(work)``: a busy database (another process held the write lock
    past busy_timeout) runs the work once more, from a rolled-back start; other errors,
    and a second busy, are not retried."""
    db = sqlite_store._db
    runs: list[int] = []

    def busy() -> sqlite3.OperationalError:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY
        return error

    def work(fail: list[Exception]) -> Callable[[sqlite3.Connection], int]:
        def run(conn: sqlite3.Connection) -> int:
            runs.append(1)
            conn.execute(
                "INSERT INTO users (name, created_at) VALUES (?, ?)", ("u", "2020-01-01T00:00:00Z")
            )
            if fail:
                raise fail.pop(0)
            return len(runs)

        return run

    assert db.write(work([busy()])) == 2  # the first run's insert was rolled back
    assert [u.name for u in sqlite_store.list_users()] == ["u"]
    sqlite_store.delete_user("u")
    runs.clear()
    with pytest.raises(StoreError, match="database is locked"):
        db.write(work([busy(), busy()]))
    assert len(runs) == 2
    runs.clear()
    with pytest.raises(StoreError, match="disk I/O error"):
        db.write(work([sqlite3.OperationalError("disk I/O error")]))
    assert len(runs) == 1
    assert sqlite_store.list_users() == []


def test_a_stored_item_that_is_json_but_not_an_object_is_corrupt(
    sqlite_store: SQLiteStore, db_path: Path
) -> None:
    session = sqlite_store.ensure_session("sara", "default")
    sqlite_store.commit_turn(session, [user_message("hello")])
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE items SET data = '[\"hello\"]'")
    conn.close()
    with pytest.raises(CorruptData, match="sara/default: item 1 is not a JSON object"):
        sqlite_store.get_items(session)
