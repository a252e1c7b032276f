"""``memchat migrate``: SQLite into PostgreSQL, verified, resumable (needs a real server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import StoreError
from memchat.store import SQLiteStore, Store, open_store
from memchat.store.crypto import Cipher
from memchat.store.usage import TurnUsage

from .helpers import texts_of, user_message
from .pg import base_url

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from memchat.store.postgres import PostgresStore  # noqa: E402
from memchat.store.postgres.copy import SQLiteSource, copy_sqlite, verify  # noqa: E402

OLD = "2020-01-01T00:00:00.000000Z"
COST = TurnUsage("gpt-test", 1200, 40, 2, 350, 1800)


def migrate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["migrate", *args], obj=App())


def fill(path: Path, cipher: Cipher | None = None) -> str:
    """A SQLite store with a bit of everything; returns sara's API token."""
    with SQLiteStore(path, cipher=cipher) as store:
        trip = store.create_session("sara", "trip", title="Lyon", metadata={"k": "é"})
        store.commit_turn(trip, [user_message("Which café in Lyon?")], created_at=OLD)
        store.commit_turn(trip, [user_message("dropped")])
        store.pop_turn(store.get_session("sara", "trip"))  # seq 2 is gone for good
        store.commit_turn(trip, [user_message("And a hotel?")], usage=COST)
        if cipher is None:  # an encrypted store without an index finds nothing to hide
            store.hide_from_recall("sara", [hit.item_id for hit in store.search("sara", "hotel")])
        store.set_summary(trip, 1, "asked about cafés")
        store.set_fact("sara", "city", "Lyon", "said")
        store.set_admin("sara", True)
        store.set_current_session("sara", "trip")
        for n in range(3):
            store.commit_turn(store.ensure_session("ali", f"s{n}"), [user_message(f"hi {n}")])
        return store.create_token("sara")


def test_copies_everything_and_verifies(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "memchat.db"
    token = fill(source)
    result = migrate("--from", f"sqlite:///{source}", "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "copied 4 session(s), skipped 0" in result.output
    assert "verified: every count and checksum matches" in result.output

    with open_store(pg_url) as store:
        trip = store.get_session("sara", "trip")
        assert (trip.title, trip.metadata, trip.turn_count) == ("Lyon", {"k": "é"}, 2)
        assert [t.seq for t in store.get_turns(trip)] == [1, 3]
        assert store.commit_turn(trip, [user_message("next")]) == 4  # seq still not reused
        summary = store.get_summary(trip)
        assert summary is not None and summary.text == "asked about cafés"
        assert [(f.key, f.value) for f in store.list_facts("sara")] == [("city", "Lyon")]
        assert store.get_user("sara").current_session == "trip" and store.is_admin("sara")
        found = store.user_for_token(token)
        assert found is not None and found.name == "sara"
        assert [h.session_id for h in store.search("sara", "cafe lyon")] == ["trip"]
        assert len(store.list_sessions("ali")) == 3
        # What was kept out of recall stays out, under the item's new id.
        hidden = store.get_messages("sara", sorted(store.hidden_from_recall("sara")))
        assert [m.text for m in hidden] == ["And a hotel?"]
        # What the turn cost goes with it.
        assert store.turn_usage(trip) == {3: COST}


def test_interrupted_copy_resumes(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "memchat.db"
    fill(source)
    copied = SQLiteSource(str(source))
    calls = 0

    def stop_after_two(_items: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with PostgresStore(pg_url) as target, pytest.raises(KeyboardInterrupt):
        copy_sqlite(copied, target, stop_after_two)
    copied.close()
    result = migrate("--from", str(source), "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "copied 2 session(s), skipped 2 already there" in result.output
    assert "verified" in result.output


def test_a_differing_target_fails_verification(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "memchat.db"
    fill(source)
    assert migrate("--from", str(source), "--to", pg_url).exit_code == 0
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(base_url(pg_url), autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".items SET data = %s WHERE seq = 3', ('{"role":"user"}',))
    result = migrate("--from", str(source), "--to", pg_url)
    assert result.exit_code == 1
    assert "session sara/trip: checksums differ" in result.output
    assert "Traceback" not in result.output
    # The library call says the same.
    copied = SQLiteSource(str(source))
    with PostgresStore(pg_url) as target:
        report = copy_sqlite(copied, target, lambda _n: None)
        verify(copied, target, report)
    copied.close()
    assert report.mismatches == ["session sara/trip: checksums differ"]


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    result = migrate("--from", "postgresql://h/db", "--to", "postgresql://h/db")
    assert result.exit_code == 1 and "--from must be a SQLite database" in result.output
    result = migrate("--from", str(tmp_path / "x.db"), "--to", str(tmp_path / "y.db"))
    assert result.exit_code == 1 and "--to must be a postgresql:// URL" in result.output


def test_copied_store_passes_the_contract_basics(tmp_path: Path, pg_url: str) -> None:
    """A turn through the store works the same after the move."""
    source = tmp_path / "memchat.db"
    fill(source)
    assert migrate("--from", str(source), "--to", pg_url).exit_code == 0
    store: Store
    with open_store(pg_url) as store:
        session = store.ensure_session("ali", "s0")
        store.commit_turn(session, [user_message("still here")])
        assert texts_of(store.get_items(session)) == ["hi 0", "still here"]


def sealed_rows(url: str) -> list[tuple[str, int, int]]:
    """(table, sealed values, all values) of each column an encrypted store seals."""
    schema = pg_url_schema(url)
    columns = [("items", "data"), ("sessions", "title"), ("facts", "value"), ("summaries", "text")]
    with psycopg.connect(base_url(url), autocommit=True) as conn:
        return [
            (
                table,
                *conn.execute(
                    f"SELECT count(*) FILTER (WHERE {column} LIKE 'enc1:%%'), count({column})"
                    f' FROM "{schema}".{table}'
                ).fetchone(),
            )
            for table, column in columns
        ]


def pg_url_schema(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def test_an_encrypted_source_is_copied_sealed_with_its_key(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
    from memchat.store.crypto import generate_key

    key = generate_key()
    source = tmp_path / "sealed.db"
    fill(source, Cipher(key))
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", key)
    result = migrate("--from", str(source), "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "copied 4 session(s), skipped 0" in result.output
    assert "verified: every count and checksum matches" in result.output

    # Every value is there sealed, as in the source, and nothing went into the index.
    assert sealed_rows(pg_url) == [
        ("items", 5, 5),
        ("sessions", 4, 4),
        ("facts", 1, 1),
        ("summaries", 1, 1),
    ]
    with psycopg.connect(base_url(pg_url), autocommit=True) as conn:
        messages = conn.execute(f'SELECT count(*) FROM "{pg_url_schema(pg_url)}".messages')
        assert messages.fetchone() == (0,)
    with open_store(pg_url, encryption_key=key) as store:
        trip = store.get_session("sara", "trip")
        assert trip.title == "Lyon"
        assert texts_of(store.get_items(trip)) == ["Which café in Lyon?", "And a hotel?"]
        summary = store.get_summary(trip)
        assert summary is not None and summary.text == "asked about cafés"
        assert [(f.key, f.value) for f in store.list_facts("sara")] == [("city", "Lyon")]
        store.commit_turn(trip, [user_message("next")])
    assert sealed_rows(pg_url)[0] == ("items", 6, 6)
    with open_store(pg_url) as store, pytest.raises(StoreError, match="set MEMCHAT_ENCRYPTION"):
        store.get_items(store.get_session("ali", "s0"))


def test_an_encrypted_source_is_refused_without_its_key(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
    from memchat.store.crypto import generate_key

    source = tmp_path / "sealed.db"
    with SQLiteStore(source, cipher=Cipher(generate_key())) as store:
        store.commit_turn(store.ensure_session("sara", "s"), [user_message("secret")])
    result = migrate("--from", str(source), "--to", pg_url)
    assert result.exit_code == 1, result.output
    assert "set MEMCHAT_ENCRYPTION_KEY" in result.output
    assert "nothing was copied" in result.output
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", generate_key())
    result = migrate("--from", str(source), "--to", pg_url)
    assert result.exit_code == 1 and "wrong key" in result.output, result.output
    assert "Traceback" not in result.output
    with open_store(pg_url) as store:
        assert store.list_users() == []


def test_a_plaintext_source_is_refused_with_a_key(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied as they are, its rows would be plaintext in an encrypted store."""
    pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
    from memchat.store.crypto import generate_key

    source = tmp_path / "plain.db"
    fill(source)
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", generate_key())
    result = migrate("--from", str(source), "--to", pg_url)
    assert result.exit_code == 1, result.output
    assert "messages, session titles, fact values, summaries in plaintext" in result.output
    assert "run `memchat encrypt` on it first" in result.output
    with open_store(pg_url) as store:
        assert store.list_users() == []


def test_branches_are_copied_and_verified(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "memchat.db"
    with SQLiteStore(source) as store:
        info = store.ensure_session("sara", "b")
        for text in ("one", "two", "three"):
            store.commit_turn(info, [user_message(text)])
        store.commit_turn(info, [user_message("TWO")], edit_seq=2)
        expected = [(b.id, b.parent, b.fork_seq) for b in store.list_branches(info)]
    result = migrate("--from", f"sqlite:///{source}", "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "verified: every count and checksum matches" in result.output
    with open_store(pg_url) as store:
        copied = store.get_session("sara", "b")
        assert texts_of(store.get_items(copied)) == ["one", "TWO"]
        assert copied.turn_count == 2
        assert [(b.id, b.parent, b.fork_seq) for b in store.list_branches(copied)] == expected
        assert [t.seq for t in store.branch_turns(copied, 1)] == [2, 3]
        store.activate_branch(copied, 1)
        assert texts_of(store.get_items(copied)) == ["one", "two", "three"]


def test_projects_are_copied_and_verified(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "memchat.db"
    with SQLiteStore(source) as store:
        store.create_session("sara", "t", project="thesis")
        store.set_project_memory("sara", "thesis", scoped=True)
        store.set_project_memory("sara", "empty", scoped=True)  # a project with no session
        store.set_fact("sara", "topic", "graphs", "manual", project="thesis")
        store.set_fact("sara", "topic", "birds", "manual")
    result = migrate("--from", f"sqlite:///{source}", "--to", pg_url)
    assert result.exit_code == 0, result.output
    assert "verified: every count and checksum matches" in result.output
    with open_store(pg_url) as store:
        info = store.get_session("sara", "t")
        assert (info.project, info.scoped) == ("thesis", True)
        assert {(p.name, p.scoped) for p in store.list_projects("sara")} == {
            ("thesis", True),
            ("empty", True),
        }
        got = {(f.project, f.key): f.value for f in store.list_facts("sara")}
        assert got == {("thesis", "topic"): "graphs", ("", "topic"): "birds"}
