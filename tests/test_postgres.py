"""The PostgreSQL store's own behaviour: URLs, migrations, reconnects, locks, errors.

What it shares with SQLite is tested in test_contract.py; these tests need a real server
(MEMCHAT_TEST_POSTGRES_URL) and skip without one, except those that need no server.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from memchat.errors import ConfigError, CorruptData, StoreError
from memchat.store import Store, open_store

from .helpers import texts_of, user_message
from .pg import base_url

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from memchat.store.postgres import PostgresStore  # noqa: E402
from memchat.store.postgres.schema import MIGRATIONS, migrate  # noqa: E402
from memchat.store.postgres.url import parse_url  # noqa: E402


@pytest.fixture
def app_url(pg_url: str) -> str:
    """The test's URL with an application name of its own, to find its connections by."""
    return f"{pg_url}&application_name=memchat_{secrets.token_hex(4)}"


@pytest.fixture
def pg(app_url: str) -> Iterator[PostgresStore]:
    with PostgresStore(app_url) as store:
        yield store


def admin(url: str) -> Any:
    """A plain autocommit connection to the test database."""
    return psycopg.connect(base_url(url), autocommit=True, application_name="memchat_tests")


def terminate(url: str) -> int:
    """Terminate every server connection of the URL's application, as a restart would."""
    name = parse_qs(urlsplit(url).query)["application_name"][0]
    with admin(url) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchall()
    return len(rows)


async def lock_waits(url: str, count: int) -> None:
    """Wait until ``count`` connections of the URL's application wait for a lock on the
    server (polled, for at most 10 s)."""
    name = parse_qs(urlsplit(url).query)["application_name"][0]
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = %s AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(10):
        with admin(url) as conn:
            # Polled: the wait is on the server, where no event can report it.
            while conn.execute(query, (name,)).fetchone()[0] < count:  # noqa: ASYNC110
                await asyncio.sleep(0.01)


# -- no server needed ----------------------------------------------------------------------


def test_url_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    target = parse_url("postgresql://me:s3cret@db.example:6543/chat?schema=team&pool_size=3")
    assert (target.schema, target.pool_size, target.shown) == ("team", 3, "db.example:6543/chat")
    assert "s3cret" in target.conninfo and "schema" not in target.conninfo
    monkeypatch.setenv("MEMCHAT_PG_POOL_SIZE", "7")
    assert parse_url("postgres://h/db").pool_size == 7
    assert parse_url("postgres://h/db?pool_size=2").pool_size == 2
    monkeypatch.setenv("MEMCHAT_PG_POOL_SIZE", "zero")
    with pytest.raises(ConfigError, match="pool size"):
        parse_url("postgres://h/db")


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:1/x"):
        open_store("postgresql://nobody:pw@127.0.0.1:1/x?connect_timeout=2")


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "memchat.store.postgres", None)
    with pytest.raises(ConfigError, match=r"pip install 'memchat\[postgres\]'"):
        open_store("postgresql://127.0.0.1/test")


# -- migrations ----------------------------------------------------------------------------


def test_migrations_match_sqlite_and_are_recorded_once(pg_url: str) -> None:
    from memchat.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS

    assert [name for name, _ in MIGRATIONS] == [name for name, _ in SQLITE_MIGRATIONS]
    # Several processes' worth of stores opening a new schema at once.
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresStore(pg_url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    schema = parse_url(pg_url).schema
    with admin(pg_url) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        assert migrate(conn, str(schema)) == []
        names = [r[0] for r in conn.execute("SELECT name FROM memchat_migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


def test_failed_migration_leaves_nothing(pg_url: str) -> None:
    schema = str(parse_url(pg_url).schema)
    broken = [
        ("0001_ok", ("CREATE TABLE a (x int)",)),
        ("0002_bad", ("CREATE TABLE b (x int)", "NOT SQL")),
    ]
    with admin(pg_url) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        with pytest.raises(psycopg.errors.SyntaxError):
            migrate(conn, schema, broken)
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        tables = {row[0] for row in rows}
        assert tables == {"a", "memchat_migrations"}
        assert [r[0] for r in conn.execute("SELECT name FROM memchat_migrations")] == ["0001_ok"]


def test_database_from_a_newer_memchat_is_refused(pg_url: str) -> None:
    PostgresStore(pg_url).close()
    with admin(pg_url) as conn:
        conn.execute(f'SET search_path TO "{parse_url(pg_url).schema}"')
        conn.execute("INSERT INTO memchat_migrations (name) VALUES ('9999_future')")
    with pytest.raises(StoreError, match="newer memchat"):
        PostgresStore(pg_url)


def test_corrupt_item_is_an_error_not_a_skip(pg: PostgresStore, pg_url: str) -> None:
    session = pg.ensure_session("sara", "default")
    pg.commit_turn(session, [user_message("hello")])
    with admin(pg_url) as conn:
        conn.execute(f'UPDATE "{parse_url(pg_url).schema}".items SET data = %s', ("{broken",))
    with pytest.raises(CorruptData, match="sara/default: item 1 is corrupt"):
        pg.get_items(session)


# -- reconnecting --------------------------------------------------------------------------


def test_reconnects_after_the_connections_are_dropped(pg: PostgresStore, app_url: str) -> None:
    session = pg.ensure_session("sara", "default")
    assert pg.commit_turn(session, [user_message("acknowledged")]) == 1
    assert terminate(app_url) >= 1
    # A read retries on a fresh connection...
    assert texts_of(pg.get_items(session)) == ["acknowledged"]
    assert terminate(app_url) >= 1
    # ...and so does a write that failed before COMMIT was sent.
    assert pg.commit_turn(session, [user_message("after")]) == 2
    assert texts_of(pg.get_items(session)) == ["acknowledged", "after"]


async def test_turn_that_loses_its_connection_saves_nothing(
    pg: PostgresStore, app_url: str
) -> None:
    """The lock went with the connection, so the turn must not commit on another one."""
    session = pg.ensure_session("sara", "default")
    with pytest.raises(StoreError, match="during the turn"):
        async with pg.turn_lock(session):
            terminate(app_url)
            pg.commit_turn(session, [user_message("lost")])
    assert pg.get_items(session) == []
    async with pg.turn_lock(session):  # the lock is free again
        pg.commit_turn(session, [user_message("kept")])
    assert texts_of(pg.get_items(session)) == ["kept"]


# -- turn locks ----------------------------------------------------------------------------


async def test_turns_in_one_event_loop_take_turns(pg: Store, app_url: str) -> None:
    """Waiting for a session's lock never blocks the event loop its holder needs."""
    session = pg.ensure_session("sara", "default")
    order: list[str] = []

    async def turn(name: str) -> None:
        async with pg.turn_lock(session):
            order.append(f"{name} in")
            # Held until each turn still to come waits for the lock on the server.
            await lock_waits(app_url, 2 - len(order) // 2)
            order.append(f"{name} out")

    await asyncio.gather(turn("a"), turn("b"), turn("c"))
    # Each turn leaves before the next one enters.
    assert [entry.split()[1] for entry in order] == ["in", "out"] * 3
    assert [e.split()[0] for e in order[::2]] == [e.split()[0] for e in order[1::2]]


async def test_cancelled_wait_for_a_lock_leaves_it_free(pg: Store, app_url: str) -> None:
    session = pg.ensure_session("sara", "default")
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with pg.turn_lock(session):
            entered.set()
            await release.wait()

    async def waiter() -> None:
        async with pg.turn_lock(session):
            pytest.fail("the waiter must not get the lock")  # pragma: no cover

    holding = asyncio.create_task(holder())
    await entered.wait()
    waiting = asyncio.create_task(waiter())
    await lock_waits(app_url, 1)  # the waiter is blocked on the server
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holding
    async with asyncio.timeout(5):
        async with pg.turn_lock(session):
            pass


# -- the whole turn path -------------------------------------------------------------------


def test_cli_chats_with_memory_on_postgres(pg_url: str) -> None:
    """Two asks are one conversation, and the model sees the history, on PostgreSQL too."""
    from agents.testing import ScriptedModel
    from click.testing import CliRunner

    from memchat.cli import cli
    from memchat.cli.app import App
    from memchat.models import ModelChoice

    from .helpers import reply

    model = ScriptedModel([reply("Hi Sara"), reply("You are Sara.")])

    def ask(text: str) -> str:
        app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
        result = CliRunner().invoke(cli, ["--db", pg_url, "ask", "--user", "sara", text], obj=app)
        assert result.exit_code == 0, result.output
        return result.output

    assert "Hi Sara" in ask("My name is Sara")
    assert "You are Sara." in ask("Who am I?")
    assert model.last_call is not None
    assert texts_of(model.last_call.input)[-3:] == ["My name is Sara", "Hi Sara", "Who am I?"]
    with open_store(pg_url) as store:
        assert store.location.endswith(f"?schema={parse_url(pg_url).schema}")
        session = store.open_session("sara")
        assert store.get_session("sara", session.id).turn_count == 2


def test_config_hides_a_database_password() -> None:
    from memchat.config import load_settings

    settings = load_settings({"MEMCHAT_DB": "postgresql://me:s3cret@db.example/chat"})
    shown = {name.split()[0]: value for name, value, _ in settings.describe()}
    assert shown["db"] == "postgresql://me:****@db.example/chat"


async def test_open_turns_never_starve_other_calls(pg_url: str) -> None:
    """With one connection for turns, calls still run, and a second turn waits its turn."""
    with PostgresStore(f"{pg_url}&pool_size=1") as store:
        a, b = store.ensure_session("sara", "a"), store.ensure_session("sara", "b")
        order: list[str] = []
        holding = asyncio.Event()

        async def turn(info: Any, name: str, wait: bool) -> None:
            async with store.turn_lock(info):
                order.append(name)
                if wait:
                    holding.set()
                    await asyncio.sleep(0.2)
                store.commit_turn(info, [user_message(name)])

        first = asyncio.create_task(turn(a, "a", True))
        await holding.wait()
        assert store.get_items(b) == []  # a call, while the only turn connection is held
        await asyncio.gather(first, turn(b, "b", False))
        assert order == ["a", "b"]
        assert texts_of(store.get_items(b)) == ["b"]


def test_the_index_follows_every_write_and_delete(pg: PostgresStore) -> None:
    """Each message's context is the two messages really before it, whatever happened."""
    from .test_contract import assistant

    info = pg.ensure_session("sara", "s")
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    pg.commit_turn(info, [user_message("alpha one"), call, assistant("beta two")])
    pg.commit_turn(info, [user_message("gamma three"), assistant("wrong")])
    pg.pop_item(info)  # "wrong"
    pg.append_to_last_turn(info, [assistant("delta four")])
    pg.commit_turn(info, [user_message("epsilon five")])
    pg.commit_turn(info, [user_message("zeta six")], replace_last=True)

    def context(word: str) -> list[str]:
        (found,) = [m for m in pg.match_messages("sara", [word], limit=10) if word in m.text]
        texts = {m.item_id: m.text for m in pg.get_messages("sara", list(found.previous))}
        return [texts[item_id] for item_id in found.previous]

    assert context("zeta") == ["delta four", "gamma three"]
    assert context("delta") == ["gamma three", "beta two"]
    assert context("beta") == ["alpha one"]
    assert pg.search("sara", "wrong") == []
    # The replaced turn stays, on a branch: found, and marked so.
    assert [hit.branch for hit in pg.search("sara", "epsilon")] == [1]
    pg.prune("2999-01-01T00:00:00.000000Z")  # everything
    assert pg.match_messages("sara", ["alpha"], limit=10) == []
    again = pg.ensure_session("sara", "s")
    pg.commit_turn(again, [user_message("eta seven")])
    assert context("eta") == []
