"""Turning encryption on, and changing keys, on a store that already holds rows.

``memchat encrypt`` seals what was written before the key, ``memchat rekey`` moves rows
from an old key to a new one, and a store opened with a key is refused while it holds
plaintext or rows under a key it lacks (sealing.py). Most tests run on SQLite and on
PostgreSQL (``store_location``, conftest.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import KeyMismatch, UnsealedData
from memchat.store import Store, open_store
from memchat.store.base import SessionInfo

from .helpers import texts_of, user_message
from .pg import base_url
from .test_encryption import stored

pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
from cryptography.fernet import Fernet, InvalidToken

from memchat.store.crypto import SEALED, generate_key
from memchat.store.sealing import SEALED_COLUMNS, reseal, sealable

SECRET = "marzipan-quokka"
# What any copy would show, a search index's stemmed terms included.
TRACES = ("marzipan", "quokka")
TURNS = 129  # 258 items, as in the report: more than a batch of a small reseal


def memchat(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), obj=App(), input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def fails(result: Result) -> str:
    """A one-line error, not a traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.output


def write_history(store: Store, turns: int = TURNS) -> SessionInfo:
    """Sara's trip: messages, a derived title, a fact and a summary, all holding SECRET."""
    trip = store.ensure_session("sara", "trip")
    for n in range(turns):
        store.commit_turn(
            trip,
            [user_message(f"{SECRET} note {n}"), {"role": "assistant", "content": f"ok {n}"}],
        )
    store.set_fact("sara", "password", SECRET, "manual")
    store.set_summary(trip, 1, f"Sara's password is {SECRET}")
    store.create_session("sara", "titled", title=f"about {SECRET}")
    return trip


def traces(location: str) -> list[str]:
    """The traces of SECRET that the store's files (or rows) hold."""
    dump = stored(location).lower()
    return [trace for trace in TRACES if trace in dump]


def sealed_values(location: str) -> list[str]:
    """Every value of every column a cipher seals, as stored."""
    queries = [f'SELECT "{c.column}" FROM "{c.table}"' for c in SEALED_COLUMNS]
    if not location.startswith("postgresql://"):
        with sqlite3.connect(location) as conn:
            rows = [row for query in queries for row in conn.execute(query)]
    else:
        import psycopg

        schema = parse_qs(urlsplit(location).query)["schema"][0]
        with psycopg.connect(base_url(location), autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            rows = [row for query in queries for row in conn.execute(query).fetchall()]
    return [row[0] for row in rows if row[0] is not None]


def opens(key: str, value: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(value.removeprefix(SEALED).encode())
    except InvalidToken:
        return False
    return True


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, store_location: str) -> Iterator[str]:
    """The store's location, with MEMCHAT_DB pointing at it."""
    monkeypatch.setenv("MEMCHAT_DB", store_location)
    yield store_location


def test_a_key_meeting_plaintext_is_refused_until_memchat_encrypt(
    keyed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(keyed) as store:
        write_history(store)
        assert store.search("sara", "marzipan")  # the plaintext index holds the words
    key = generate_key()
    with pytest.raises(UnsealedData, match="run `memchat encrypt`") as refused:
        open_store(keyed, encryption_key=key)
    assert "messages, session titles, fact values and summaries in plaintext" in str(refused.value)

    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", key)
    assert "run `memchat encrypt`" in fails(memchat("sessions", "list", "-u", "sara"))
    out = ok(memchat("encrypt", "--yes"))
    # The items, two titles, the fact and the summary.
    assert f"sealed {2 * TURNS + 4} values (of {2 * TURNS + 4})" in out
    assert traces(keyed) == []
    assert all(value.startswith(SEALED) for value in sealed_values(keyed))
    with open_store(keyed, encryption_key=key) as store:
        trip = store.get_session("sara", "trip")
        assert trip.title == f"{SECRET} note 0"
        assert texts_of(store.get_items(trip))[:2] == [f"{SECRET} note 0", "ok 0"]
        assert [f.value for f in store.list_facts("sara")] == [SECRET]
        summary = store.get_summary(trip)
        assert summary is not None and summary.text == f"Sara's password is {SECRET}"
        assert store.match_messages("sara", ["marzipan"], limit=5) == []  # no index left
    # Nothing left to do: a second run changes nothing.
    assert f"sealed 0 values (of {2 * TURNS + 4})" in ok(memchat("encrypt", "--yes"))


def test_encrypt_leaves_no_copy_in_the_file_its_wal_or_free_pages(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(db_path) as store:
        write_history(store)
        store.search("sara", "quokka")
        # A reader that stays (a server's connection) keeps the WAL file in place.
        reader = sqlite3.connect(db_path)
        reader.execute("SELECT count(*) FROM items").fetchone()

        def copies() -> dict[str, int]:
            return {
                path.name: path.read_bytes().lower().count(TRACES[1].encode())
                for path in db_path.parent.glob(db_path.name + "*")
            }

        assert sum(copies().values()) > 2 * TURNS  # the items, the index, the WAL's pages
        monkeypatch.setenv("MEMCHAT_DB", str(db_path))
        monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", generate_key())
        ok(memchat("encrypt", "--yes"))
        found = copies()
        reader.close()
    assert f"{db_path.name}-wal" in found and db_path.name in found
    assert not any(found.values()), found


def test_encrypt_with_encrypted_search_keeps_search_and_recall(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(db_path) as store:
        write_history(store, turns=3)
        store.search("sara", "marzipan")
    key = generate_key()
    monkeypatch.setenv("MEMCHAT_DB", str(db_path))
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", key)
    monkeypatch.setenv("MEMCHAT_ENCRYPTED_SEARCH", "true")
    ok(memchat("encrypt", "--yes"))
    assert traces(str(db_path)) == []
    with open_store(db_path, encryption_key=key, encrypted_search=True) as store:
        hits = store.search("sara", "marzipan note 2")
        assert "[marzipan]" in hits[0].snippet and hits[0].session_id == "trip"
        assert store.match_messages("sara", ["quokka"], limit=5)
    assert "quokka" in ok(memchat("search", "-u", "sara", "quokka"))


def test_encrypt_is_resumable_in_batches(keyed: str) -> None:
    with open_store(keyed) as store:
        write_history(store, turns=20)
    key = generate_key()
    visited: list[int] = []

    def interrupt_after_two_batches(n: int) -> None:
        visited.append(n)
        if len(visited) == 2:
            raise KeyboardInterrupt

    with (
        open_store(keyed, encryption_key=key, check_sealed=False) as store,
        pytest.raises(KeyboardInterrupt),
    ):
        reseal(sealable(store), interrupt_after_two_batches, batch=10)
    # The two batches done are committed; the rest is still plaintext, and refused.
    values = sealed_values(keyed)
    assert sum(value.startswith(SEALED) for value in values) == 20
    with pytest.raises(UnsealedData):
        open_store(keyed, encryption_key=key)

    with open_store(keyed, encryption_key=key, check_sealed=False) as store:
        report = reseal(sealable(store), batch=10)
    assert (report.visited, report.sealed, report.rekeyed) == (len(values), len(values) - 20, 0)
    assert traces(keyed) == []
    with open_store(keyed, encryption_key=key) as store:
        assert len(store.get_items(store.get_session("sara", "trip"))) == 40


def test_rekey_moves_every_row_to_the_new_key(keyed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blind = not keyed.startswith("postgresql://")  # search and recall, where there is an index
    old, new = generate_key(), generate_key()
    with open_store(keyed, encryption_key=old, encrypted_search=blind) as store:
        write_history(store, turns=30)
    with pytest.raises(KeyMismatch, match="run `memchat rekey`"):
        open_store(keyed, encryption_key=new)

    def interrupt(visited: int) -> None:
        raise KeyboardInterrupt

    # Interrupted after a batch: the new key alone is still refused.
    with (
        open_store(keyed, encryption_key=f"{new},{old}", check_sealed=False) as store,
        pytest.raises(KeyboardInterrupt),
    ):
        reseal(sealable(store), interrupt, batch=8)
    with pytest.raises(KeyMismatch):
        open_store(keyed, encryption_key=new)

    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", new)
    monkeypatch.setenv("MEMCHAT_OLD_ENCRYPTION_KEY", old)
    if blind:
        monkeypatch.setenv("MEMCHAT_ENCRYPTED_SEARCH", "true")
    out = ok(memchat("rekey", "--yes"))
    values = sealed_values(keyed)
    assert f"re-sealed {len(values) - 8} values (of {len(values)})" in out
    assert all(opens(new, value) and not opens(old, value) for value in values)
    with pytest.raises(KeyMismatch):
        open_store(keyed, encryption_key=old)
    with open_store(keyed, encryption_key=new, encrypted_search=blind) as store:
        trip = store.get_session("sara", "trip")
        assert texts_of(store.get_items(trip))[-1] == "ok 29"
        assert [f.value for f in store.list_facts("sara")] == [SECRET]
        if blind:
            assert store.search("sara", "marzipan note 29")[0].session_id == "trip"
            assert store.match_messages("sara", ["quokka"], limit=3)
    assert traces(keyed) == []


def test_rekey_asks_for_the_old_key_and_names_a_wrong_one(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = generate_key(), generate_key()
    with open_store(db_path, encryption_key=old) as store:
        write_history(store, turns=2)
    monkeypatch.setenv("MEMCHAT_DB", str(db_path))
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", new)
    wrong = fails(memchat("rekey", "--yes", input=generate_key() + "\n"))
    assert "sealed under none of the keys given" in wrong
    assert "the old key" in wrong  # the prompt, on stderr; the key typed is not echoed
    assert "not a Fernet key" in fails(memchat("rekey", "--yes", input="nonsense\n"))
    ok(memchat("rekey", "--yes", input=old + "\n"))
    with open_store(db_path, encryption_key=new) as store:
        assert store.list_facts("sara")[0].value == SECRET


def test_the_commands_need_a_key_and_ask_first(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_DB", str(db_path))
    assert "set MEMCHAT_ENCRYPTION_KEY" in fails(memchat("encrypt", "--yes"))
    assert "set MEMCHAT_ENCRYPTION_KEY" in fails(memchat("rekey", "--yes"))
    with open_store(db_path) as store:
        write_history(store, turns=1)
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", generate_key())
    assert "Aborted" in fails(memchat("encrypt", input="n\n"))
    assert traces(str(db_path)) != []


def test_plaintext_written_without_the_key_later_is_refused(keyed: str) -> None:
    key = generate_key()
    with open_store(keyed, encryption_key=key) as store:
        trip = write_history(store, turns=3)
    with open_store(keyed, encryption_key=key) as store:  # checked: items 1-6 are sealed
        store.pop_turn(trip)  # items 5 and 6 go; SQLite gives their ids to the next ones
    with open_store(keyed) as store:
        store.commit_turn(trip, [user_message("written without the key")])
    with pytest.raises(UnsealedData, match="holds messages in plaintext"):
        open_store(keyed, encryption_key=key)


def test_a_store_sealed_before_the_record_is_checked_by_a_sample(keyed: str) -> None:
    key = generate_key()
    with open_store(keyed, encryption_key=key) as store:
        write_history(store, turns=2)
    forget = "UPDATE sealing SET key_ids = NULL, checked_through = 0"
    if keyed.startswith("postgresql://"):
        import psycopg

        schema = parse_qs(urlsplit(keyed).query)["schema"][0]
        with psycopg.connect(base_url(keyed), autocommit=True) as conn:
            conn.execute(f'UPDATE "{schema}".sealing SET key_ids = NULL, checked_through = 0')
    else:
        with sqlite3.connect(keyed) as conn:
            conn.execute(forget)
    with pytest.raises(KeyMismatch):
        open_store(keyed, encryption_key=generate_key())
    with open_store(keyed, encryption_key=key) as store:
        assert store.list_facts("sara")[0].value == SECRET
    with pytest.raises(KeyMismatch):  # recorded now
        open_store(keyed, encryption_key=generate_key())


def test_postgresql_keeps_no_copy_in_table_files_or_statistics(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read the relations' files themselves (a superuser's pg_read_binary_file), where
    dead row versions live on, and the planner's statistics, which sample column values."""
    import psycopg

    schema = parse_qs(urlsplit(pg_url).query)["schema"][0]
    with open_store(pg_url) as store:
        write_history(store)
    with psycopg.connect(base_url(pg_url), autocommit=True) as conn:
        conn.execute(f'ANALYZE "{schema}".items, "{schema}".messages, "{schema}".facts')

        def on_disk() -> str:
            conn.execute("CHECKPOINT")  # the pages in shared buffers go to the files
            # The schema's tables and indexes, and their TOAST tables.
            files = conn.execute(
                "SELECT pg_relation_filepath(oid) FROM pg_class"
                " WHERE relnamespace = %(s)s::regnamespace OR oid IN"
                " (SELECT reltoastrelid FROM pg_class WHERE relnamespace = %(s)s::regnamespace)",
                {"s": schema},
            ).fetchall()
            raw = b"".join(
                conn.execute("SELECT pg_read_binary_file(%s)", (path,)).fetchone()[0]  # type: ignore[index]
                for (path,) in files
                if path is not None
            )
            stats = conn.execute(
                "SELECT concat_ws(' ', most_common_vals, histogram_bounds, most_common_elems)"
                " FROM pg_stats WHERE schemaname = %s",
                (schema,),
            ).fetchall()
            return raw.decode("utf-8", "replace") + " ".join(str(row[0]) for row in stats)

        assert all(trace in on_disk() for trace in TRACES)
        monkeypatch.setenv("MEMCHAT_DB", pg_url)
        monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", generate_key())
        ok(memchat("encrypt", "--yes"))
        left = on_disk()
    assert [trace for trace in TRACES if trace in left] == []
