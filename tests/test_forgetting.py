"""Verifiable forgetting: each way to forget, then a scan of the store's bytes for the text.

Text is planted as distinctive words (``plant``), forgotten, and looked for: in what the
store still holds, in the SQLite file, its free pages and write-ahead log, and in
PostgreSQL's table and index files after VACUUM. A copy that remains must be reported
with its place, or the scan proves nothing.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memchat.cli import cli
from memchat.cli.app import App
from memchat.forgetting import (
    delete_session_verified,
    delete_user_verified,
    forget_fact_verified,
    prune_verified,
)
from memchat.receipt import Receipt, in_kept_data
from memchat.store import SQLiteStore, Store, open_store
from memchat.store.residue import needles_of, pattern_of
from memchat.store.sqlite import scrub

from .helpers import user_message

OLD = "2020-01-01T00:00:00.000000Z"
CUTOFF = "2021-01-01T00:00:00.000000Z"
_counter = itertools.count()


def plant() -> str:
    """A word found nowhere else: letters and digits, long enough to be a needle."""
    return f"planted{secrets.token_hex(5)}{next(_counter)}q"


def assistant(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }


def converse(store: Store, user: str, session_id: str, word: str, *, at: str | None = None) -> None:
    """A turn and a summary that hold ``word``, and a title made of it; searched once, so
    the search index holds it too."""
    session = store.ensure_session(user, session_id)
    store.commit_turn(
        session,
        [user_message(f"remember {word} please"), assistant(f"I will keep {word} in mind.")],
        created_at=at,
    )
    store.rename_session(user, session_id, f"About {word}")
    store.set_summary(session, 1, f"The user talked about {word}. Nothing else.")
    if store.searchable:
        store.search(user, word)


def file_bytes(store: Store) -> bytes:
    """The raw bytes of a SQLite store's file and write-ahead log (empty on PostgreSQL)."""
    if not isinstance(store, SQLiteStore):
        return b""
    path = Path(store.location)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def forget_fact(store: Store, word: str) -> Receipt:
    session = store.ensure_session("sara", "notes")
    store.set_fact("sara", "code", word, "manual")
    store.set_summary(session, 0, f"Sara's code is {word}. She likes tea.")
    _, receipt = forget_fact_verified(store, "sara", "code")
    assert store.get_summary(session) is not None  # the sentence went, not the summary
    return receipt


def delete_session(store: Store, word: str) -> Receipt:
    converse(store, "sara", "s1", word)
    return delete_session_verified(store, "sara", "s1")


def delete_user(store: Store, word: str) -> Receipt:
    converse(store, "sara", "s1", word)
    store.set_fact("sara", "pet", f"a cat called {word}", "manual")
    return delete_user_verified(store, "sara")


def prune(store: Store, word: str) -> Receipt:
    converse(store, "sara", "s1", word, at=OLD)
    store.set_fact("sara", "old", f"{word}x", "manual")
    _, receipt = prune_verified(store, "2999-01-01T00:00:00.000000Z", user="sara", facts=True)
    return receipt


CAUSES: dict[str, Callable[[Store, str], Receipt]] = {
    "forget fact": forget_fact,
    "sessions delete": delete_session,
    "users delete": delete_user,
    "prune": prune,
}


@pytest.mark.parametrize("cause", CAUSES)
def test_each_way_to_forget_leaves_no_copy(store: Store, cause: str) -> None:
    word = plant()
    converse(store, "bob", "b1", "somethingunrelated")  # kept: not reported
    receipt = CAUSES[cause](store, word)
    assert word in receipt.needles
    assert receipt.clean, receipt.lines()
    assert receipt.lines()[-1] == "  0 remaining copies"
    assert word.encode() not in file_bytes(store)
    # The scan read the files: SQLite's always, PostgreSQL's here (a local server).
    assert receipt.scanned and not any("could not be read" in n for n in receipt.notes)
    expected = {"forget fact": "facts", "sessions delete": "items", "users delete": "users"}
    assert receipt.removed.get(expected.get(cause, "items"), 0) >= 1
    assert store.list_sessions("bob")[0].title == "About somethingunrelated"


def test_forgetting_a_fact_leaves_no_copy_of_its_earlier_values(store: Store) -> None:
    old, new = plant(), plant()
    store.ensure_user("sara")
    store.set_fact("sara", "code", old, "manual")
    store.set_fact("sara", "code", new, "manual")
    assert [v.value for v in store.fact_history("sara", "code")] == [old]
    _, receipt = forget_fact_verified(store, "sara", "code")
    assert {old, new} <= set(receipt.needles)
    assert receipt.clean, receipt.lines()
    assert store.fact_history("sara") == []
    assert old.encode() not in file_bytes(store) and new.encode() not in file_bytes(store)


def test_words_also_in_kept_text_are_listed_where_they_are(store: Store) -> None:
    word, own = plant(), plant()
    converse(store, "sara", "s1", f"{word} {own}")
    converse(store, "bob", "b1", word)  # the same word in another user's turn stays
    receipt = delete_session_verified(store, "sara", "s1")
    places = [copy.where for copy in receipt.kept if copy.needle == word]
    assert any(p.startswith("bob's session b1, turn 1 (item ") for p in places), places
    assert "the title of bob's session b1" in places
    assert "the summary of bob's session b1" in places
    # Its bytes cannot be told from bob's: not counted; the word only sara said is.
    kept = {copy.needle for copy in receipt.kept}
    assert kept == {word, "remember"}  # and the turn's own words that bob said too
    assert receipt.clean and own in receipt.needles
    lines = receipt.lines()
    assert "  also in kept text, so not looked for on disk: 2 words" in lines
    assert f"    {word!r} in the title of bob's session b1" in lines


def test_a_dead_row_left_by_a_postgres_delete_is_found_in_the_table_file(pg_url: str) -> None:
    """What the scrub is for on PostgreSQL: a deleted row stays in its page until VACUUM
    FULL rewrites the table; the scan reads the files and finds it there."""
    from memchat.store.postgres import PostgresStore
    from memchat.store.postgres import scrub as pg_scrub

    word = plant()
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        converse(store, "sara", "s1", word)
        converse(store, "sara", "s2", "otherwordsentirely")
        store.delete_session("sara", "s1")
        store._db.read(lambda conn: conn.execute("CHECKPOINT"))
        needles = needles_of([word])
        pattern = pattern_of(needles)
        assert pattern is not None
        copies, _, unread = pg_scrub.scan(store, needles, pattern)
        assert not unread
        places = [c.where for c in copies]
        assert any(p.startswith("items (") and "offset" in p and "(page 0)" in p for p in places)
        assert any(p.startswith("sessions (") for p in places), places
        assert pg_scrub.scrub(store) == []
        assert pg_scrub.scan(store, needles, pattern)[0] == []


def test_a_long_message_on_postgres_is_stored_where_the_scan_reads_it(pg_url: str) -> None:
    """PostgreSQL compresses a long value (pglz puts a control byte every 8 items, so the
    words are not in the file as bytes); memchat's text columns are stored uncompressed
    (migration 0014), so the scan finds each copy, in the table, its TOAST table and the
    search index, as it finds a short one."""
    from memchat.store.postgres import PostgresStore
    from memchat.store.postgres import scrub as pg_scrub

    word = plant()
    long = " ".join(f"{word} and line {n} of a long paste" for n in range(300))
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        session = store.ensure_session("sara", "s1")
        store.commit_turn(session, [user_message(long), assistant("Noted.")])
        store.search("sara", word)
        store._db.read(lambda conn: conn.execute("CHECKPOINT"))
        row = store._db.read(
            lambda conn: conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_class t ON t.reltoastrelid = c.oid"
                " WHERE t.oid = 'items'::regclass"
            ).fetchone()
        )
        assert row is not None
        needles = needles_of([word])
        pattern = pattern_of(needles)
        assert pattern is not None
        copies, _, unread = pg_scrub.scan(store, needles, pattern)
        assert not unread
        # Compressed, the message was in the items' TOAST table too, but not as its words.
        places = {c.where.split(" (")[0] for c in copies}
        assert row[0] in places, places
        receipt = delete_session_verified(store, "sara", "s1")
        assert receipt.clean, receipt.lines()


def test_deletion_alone_leaves_copies_that_the_scrub_removes(sqlite_store: Store) -> None:
    """What the scrub is for: the log and the full-text index keep deleted text, and the
    scan finds it there."""
    assert isinstance(sqlite_store, SQLiteStore)
    word = plant()
    converse(sqlite_store, "sara", "s1", word)
    converse(sqlite_store, "sara", "s2", "otherwordsentirely")
    sqlite_store.delete_session("sara", "s1")
    needles = needles_of([word])
    pattern = pattern_of(needles)
    assert pattern is not None
    copies, _, _ = scrub.scan(sqlite_store, needles, pattern)
    assert any(".db-wal, offset" in c.where and "a copy of page" in c.where for c in copies)
    # Checkpointed, the log is empty, but the index's segments still hold the word.
    sqlite_store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copies, _, _ = scrub.scan(sqlite_store, needles, pattern)
    assert copies and all("items_fts_data" in c.where for c in copies), copies
    assert scrub.scrub(sqlite_store) == []
    assert scrub.scan(sqlite_store, needles, pattern)[0] == []


def test_a_copy_in_a_free_page_is_placed(sqlite_store: Store, db_path: Path) -> None:
    """Bytes left where no table is are "a free page"; the scan reads every page."""
    assert isinstance(sqlite_store, SQLiteStore)
    word = plant()
    session = sqlite_store.ensure_session("sara", "s1")
    sqlite_store.commit_turn(session, [user_message("long " * 10_000)])  # overflow pages
    sqlite_store.delete_session("sara", "s1")
    assert scrub.scrub(sqlite_store) == []
    size = int(sqlite_store._conn.execute("PRAGMA page_size").fetchone()[0])
    free = int(sqlite_store._conn.execute("PRAGMA freelist_count").fetchone()[0])
    assert free, "deleting left no free page to plant in"
    first_trunk = int.from_bytes(db_path.read_bytes()[32:36], "big")
    # What a database without secure_delete would leave: the text in a freed page.
    with db_path.open("r+b") as file:
        file.seek((first_trunk - 1) * size + size // 2)
        file.write(word.encode())
    needles = needles_of([word])
    pattern = pattern_of(needles)
    assert pattern is not None
    copies, _, _ = scrub.scan(sqlite_store, needles, pattern)
    assert [c.where for c in copies] == [
        f"memchat.db, offset {(first_trunk - 1) * size + size // 2:,}"
        f" (page {first_trunk}: a free page)"
    ]


def test_an_encrypted_store_holds_no_plaintext_and_kept_words_are_found(
    store_location: str,
) -> None:
    pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
    from memchat.store.crypto import generate_key

    word = plant()
    with open_store(store_location, encryption_key=generate_key()) as sealed:
        converse(sealed, "sara", "s1", word)
        converse(sealed, "bob", "b1", word)
        receipt = delete_session_verified(sealed, "sara", "s1")
        assert any("an encrypted store" in note for note in receipt.notes)
        # The plaintext was never on disk; bob's copy is found in what is kept, decrypted.
        assert word.encode() not in file_bytes(sealed)
        assert receipt.clean
        assert "the title of bob's session b1" in {copy.where for copy in receipt.kept}
        assert delete_session_verified(sealed, "bob", "b1").clean


def test_a_postgres_transaction_that_still_sees_a_row_keeps_it_and_is_named(
    pg_url: str,
) -> None:
    import psycopg

    from memchat.store.postgres import PostgresStore
    from memchat.store.postgres import scrub as pg_scrub

    from .pg import base_url

    word = plant()
    with open_store(pg_url) as store, psycopg.connect(base_url(pg_url)) as reader:
        assert isinstance(store, PostgresStore)
        converse(store, "sara", "s1", word)
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT 1").fetchone()  # its snapshot sees the session
        store.delete_session("sara", "s1")
        notes = pg_scrub.scrub(store, wait=0.3)
        # Other clients of a shared server may be named too.
        (note,) = notes
        assert note.startswith("transactions begun before the delete were still open")
        assert str(reader.info.backend_pid) in note.split("(server pids ")[1].split(")")[0]
        assert note.endswith("VACUUM keeps the rows they may see; run again when they end")
        needles = needles_of([word])
        pattern = pattern_of(needles)
        assert pattern is not None
        assert any(c.where.startswith("items (") for c in pg_scrub.scan(store, needles, pattern)[0])
        reader.rollback()
        assert pg_scrub.scrub(store, wait=5) == []
        assert pg_scrub.scan(store, needles, pattern)[0] == []


def test_postgres_without_readable_files_scans_through_sql(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memchat.store.postgres import scrub as pg_scrub

    monkeypatch.setattr(pg_scrub, "_data_directory", lambda conn: (None, "a remote server"))
    from memchat.store.postgres import PostgresStore

    word = plant()
    with PostgresStore(pg_url) as store:
        converse(store, "sara", "s1", word)
        converse(store, "sara", "s2", "otherwordsentirely")
        store.delete_session("sara", "s1")
        needles = needles_of([word])
        pattern = pattern_of(needles)
        assert pattern is not None
        # What a stale search index would keep: the deleted message's words in a row.
        row = store._db.write(
            lambda conn: conn.execute(
                "UPDATE messages SET context1 = %s WHERE item_id = (SELECT min(item_id)"
                " FROM messages) RETURNING item_id",
                (f"remember {word}",),
            ).fetchone()
        )
        assert row is not None
        copies, scanned, unread = pg_scrub.scan(store, needles, pattern)
    assert unread == ["the raw table files could not be read: a remote server"]
    assert scanned == ["the search index's messages and the planner's statistics, through SQL"]
    assert [c.where for c in copies] == [f"the search index (messages), item {row[0]}"]


# -- any sequence of turns and deletions ---------------------------------------------------

Step = tuple[str, int, int]  # (what, user, session)
steps = st.lists(
    st.tuples(
        st.sampled_from(["turn", "turn", "turn", "fact", "delete", "user", "prune", "forget"]),
        st.integers(0, 1),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps)
def test_after_any_turns_and_deletions_no_deleted_text_remains(
    store: Store, script: list[Step]
) -> None:
    run = secrets.token_hex(4)  # the store outlives an example: its own users and words
    said: dict[tuple[int, int], list[str]] = {}  # live words per (user, session)
    facts: dict[int, str] = {}
    for what, u, s in script:
        user, session_id = f"u{run}{u}", f"s{s}"
        if what in ("turn", "fact"):
            word = plant()
            old = OLD if s == 2 else None  # session 2 is always old enough to prune
            if what == "fact":
                store.ensure_user(user)
                store.set_fact(user, "k", word, "manual")
                facts[u] = word
                continue
            converse(store, user, session_id, word, at=old)
            said.setdefault((u, s), []).append(word)
            continue
        if what == "delete" and (u, s) in said:
            receipt = delete_session_verified(store, user, session_id)
            gone = said.pop((u, s))
        elif what == "user" and (any(key[0] == u for key in said) or u in facts):
            receipt = delete_user_verified(store, user)
            gone = [w for key in [k for k in said if k[0] == u] for w in said.pop(key)]
            gone += [facts.pop(u)] if u in facts else []
        elif what == "prune" and (u, 2) in said:
            _, receipt = prune_verified(store, CUTOFF, user=user)
            gone = said.pop((u, 2))
        elif what == "forget" and u in facts:
            _, receipt = forget_fact_verified(store, user, "k")
            gone = [facts.pop(u)]
        else:
            continue
        assert set(gone) <= set(receipt.needles)
        assert receipt.clean, receipt.lines()
        for word in gone:
            assert word.encode() not in file_bytes(store)
    # What was not deleted is still there, where the scan finds it.
    kept = [word for words in said.values() for word in words] + list(facts.values())
    assert {copy.needle for copy in in_kept_data(store, kept)} == set(kept)


# -- the command line ----------------------------------------------------------------------


def memchat(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj=App())


def test_verify_on_the_command_line(memchat_env: Path) -> None:
    word = plant()
    with open_store(memchat_env / "memchat.db") as store:
        converse(store, "sara", "s1", word)
        converse(store, "sara", "s2", "anotherplanted")
        store.set_fact("sara", "code", word, "manual")
        converse(store, "bob", "b1", "bobsownwords", at=OLD)
    # The fact's value is still in sara's session s1: the receipt says where.
    result = memchat("memory", "forget", "code", "--user", "sara", "--verify")
    assert result.exit_code == 0, result.output
    assert "forgot code: " in result.output
    assert "also in kept text, so not looked for on disk: 1 word" in result.output
    assert f"{word!r} in sara's session s1, turn 1 (item 1)" in result.output
    assert "0 remaining copies" in result.output
    result = memchat("sessions", "delete", "s1", "--user", "sara", "--yes", "--verify")
    assert result.exit_code == 0, result.output
    assert "removed: sessions 1, items 2" in result.output
    assert result.output.rstrip().endswith("0 remaining copies")
    result = memchat("prune", "--older-than", "1d", "--user", "bob", "--yes", "--verify")
    assert result.exit_code == 0 and "0 remaining copies" in result.output, result.output
    result = memchat("users", "delete", "sara", "--yes", "--vacuum", "--verify")
    assert result.exit_code == 0 and "0 remaining copies" in result.output, result.output
    assert "deleted user sara and vacuumed" in result.output
    assert "looked for 2 distinctive words" in result.output  # anotherplanted, sara's s2 title


def test_a_copy_left_on_the_command_line_is_placed_and_exits_1(
    memchat_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    word = plant()
    with open_store(memchat_env / "memchat.db") as store:
        converse(store, "sara", "s1", word)
        converse(store, "sara", "s2", "anotherplanted")
    monkeypatch.setattr(scrub, "scrub", lambda store: [])  # as if nothing were scrubbed
    result = memchat("sessions", "delete", "s1", "--user", "sara", "--yes", "--verify")
    assert result.exit_code == 1, result.output
    assert "remaining copies:" in result.output
    assert f"    {word!r} in memchat.db-wal, offset " in result.output


def test_a_sqlite_reader_that_keeps_the_log_is_said_and_its_copies_found(
    sqlite_store: Store, db_path: Path
) -> None:
    import sqlite3

    assert isinstance(sqlite_store, SQLiteStore)
    word = plant()
    converse(sqlite_store, "sara", "s1", word)
    sqlite_store._conn.execute("PRAGMA busy_timeout = 100")
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM items").fetchone()  # holds its snapshot
        receipt = delete_session_verified(sqlite_store, "sara", "s1")
    finally:
        reader.close()
    assert receipt.notes == [
        "another process reading the database kept its write-ahead log from being"
        " emptied: what it holds is scanned below; run again when it is done"
    ]
    assert receipt.copies and all(".db-wal, offset" in c.where for c in receipt.copies)
    sqlite_store._conn.execute("PRAGMA busy_timeout = 30000")
    assert scrub.scrub(sqlite_store) == []
