"""Migration 0013_projects on a database made by the schema before it: every row survives.

On SQLite the migration rebuilds ``facts`` and ``fact_sources`` inside its transaction,
with foreign keys on; these tests make a database at 0012, with facts, their sources and
their history, then open it with today's store and check every row, id and cascade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from memchat.store import Store, open_store
from memchat.store.sqlite import schema as sqlite_schema

from .pg import migrated_before

Run = Callable[[str, tuple[Any, ...]], object]
T0, T1 = "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z"


def fill(run: Run, mark: str) -> None:
    """A user with a session of two turns, a traced fact (said in turn 2, earlier said in
    turn 1: its history) and a fact set by hand."""
    q = ", ".join([mark] * 9)

    def ins(sql: str, *args: Any) -> None:
        run(sql.replace("?", mark), args)

    ins("INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)", 1, "sara", T0)
    ins(
        "INSERT INTO sessions (id, user_id, key, created_at, updated_at, turn_count, last_seq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        1, 1, "pets", T0, T1, 2, 2,
    )  # fmt: skip
    for item_id, seq, text in ((1, 1, "My dog is Rex"), (2, 2, "My dog is Max")):
        data = '{"role":"user","content":"' + text + '"}'
        ins(
            "INSERT INTO items (id, session_id, seq, created_at, data) VALUES (?, ?, ?, ?, ?)",
            item_id, 1, seq, T0, data,
        )  # fmt: skip
    run(
        "INSERT INTO facts (id, user_id, key, value, source, created_at, updated_at, traced,"
        f" valid_from) VALUES ({q})",
        (7, 1, "dog", "Max", "pets#2", T0, T1, True, T1),
    )
    run(
        "INSERT INTO facts (id, user_id, key, value, source, created_at, updated_at, traced,"
        f" valid_from) VALUES ({q})",
        (8, 1, "name", "Sara", "manual", T0, T0, False, T0),
    )
    ins("INSERT INTO fact_sources (fact_id, item_id) VALUES (?, ?)", 7, 2)
    ins(
        "INSERT INTO fact_history (id, user_id, key, value, source, traced, valid_from,"
        " valid_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        3, 1, "dog", "Rex", "pets#1", True, T0, T1,
    )  # fmt: skip
    ins("INSERT INTO fact_history_sources (history_id, item_id) VALUES (?, ?)", 3, 1)


def check(store: Store) -> None:
    """Every row came through, with its id, in no project; the cascade still works."""
    assert [(f.id, f.key, f.value, f.project) for f in store.list_facts("sara")] == [
        (7, "dog", "Max", ""),
        (8, "name", "Sara", ""),
    ]
    assert [(s.session_id, s.seq) for s in store.fact_sources("sara")[7]] == [("pets", 2)]
    (earlier,) = store.fact_history("sara", "dog")
    assert (earlier.value, earlier.project, [s.seq for s in earlier.sources]) == ("Rex", "", [1])
    info = store.get_session("sara", "pets")
    assert (info.project, info.scoped) == ("", False)
    # Undoing turn 2 drops its source row: the fact falls back to Rex, said in turn 1.
    store.pop_turn(info)
    assert {f.key: f.value for f in store.list_facts("sara")} == {"dog": "Rex", "name": "Sara"}
    assert [s.seq for s in store.fact_sources("sara")[7]] == [1]
    # And the new UNIQUE holds a key per project.
    store.set_fact("sara", "dog", "Bo", "manual", project="thesis")
    assert len(store.list_facts("sara")) == 3


def test_sqlite_0013_keeps_every_fact_source_and_history_row(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    before = [m for m in sqlite_schema.MIGRATIONS if m[0] < "0013"]
    assert before[-1][0] == "0012_usage"
    sqlite_schema.migrate(conn, before)
    conn.execute("BEGIN")
    fill(conn.execute, "?")
    conn.execute("COMMIT")
    conn.close()
    with open_store(str(path)) as store:
        check(store)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not tables & {"facts_new", "fact_sources_new"}
    conn.close()


def test_postgres_0013_keeps_every_fact_source_and_history_row(pg_url: str) -> None:
    from psycopg import sql

    schema = parse_qs(urlsplit(pg_url).query)["schema"][0]
    with migrated_before(pg_url, "0013") as conn:
        with conn.transaction():
            fill(conn.execute, "%s")
        # Identities continue after the ids given by hand.
        for table in ("users", "sessions", "items", "facts", "fact_history"):
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), 100)").format(
                    sql.Literal(f"{schema}.{table}")
                )
            )
    with open_store(pg_url) as store:
        check(store)
