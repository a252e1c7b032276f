"""The PostgreSQL columns of bench/store.py: concurrent turn writers on one server.

Two columns, each in a schema of its own on the same server, in the same run:

* memchat: ``PostgresStore`` with the chat's own path, ``async with session.turn()``
  around two ``add_items`` calls; each writer is a thread running its own event loop (the
  store is synchronous), all sharing one store and its two pools (calls and
  turns) of ``writers + 2`` connections each;
* SDK SQLAlchemySession: the Agents SDK's ``SQLAlchemySession`` on SQLAlchemy's asyncio
  engine with asyncpg (pool of ``writers`` connections), written as the Runner writes a
  turn (two ``add_items`` calls); each writer is a task in one event loop, as the SDK is
  asynchronous.

With 1, 8 and 32 writers, each in a session of its own ("separate") and all in one
("shared"). memchat's turns of one session never interleave (its per-session advisory
lock is held for the turn); the SDK session takes no such lock, so its shared-session
writers interleave their turns' items. turns/s is all writers' turns over the wall time
from the first turn's start to the last one's end; columns alternate in rounds so load
from other work on the machine hits both alike.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
from psycopg import sql
from sqlalchemy.ext.asyncio import create_async_engine

from memchat.store import MemchatSession, SessionInfo
from memchat.store.base import Item
from memchat.store.postgres import PostgresStore
from memchat.store.usage import TurnUsage

WRITERS = (1, 8, 32)
MODES = ("separate", "shared")
ROUNDS = 3
WARMUP_TURNS = 5
PG_GOAL = 2000.0  # turns/s with 8 writers in separate sessions
# What the chat stores with each turn (store/usage.py).
USAGE = TurnUsage("gpt-4.1-mini", 812, 64, 1, 420, 1900)

Pair = Callable[[int], tuple[Item, Item]]


def with_schema(url: str, schema: str) -> str:
    """``url`` with memchat's ``schema`` and ``pool_size`` parameters left to the caller."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schemas(url: str, *schemas: str) -> None:
    """Drop the bench's schemas (and everything in them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class MemchatColumn:
    """memchat's turn path, one thread (and event loop) per writer."""

    name = "memchat"

    def __init__(self, url: str, schema: str) -> None:
        self.url, self.schema = url, schema

    def run(self, writers: int, mode: str, turns_each: int, pair: Pair) -> float:
        """Write ``turns_each`` turns per writer; return the wall time in seconds."""
        url = with_schema(self.url, self.schema) + f"&pool_size={writers + 2}"
        with PostgresStore(url) as store:
            names = [f"{mode}-{writers}" if mode == "shared" else f"w{n}" for n in range(writers)]
            infos = [store.ensure_session(f"bench{writers}{mode}", name) for name in names]
            start = threading.Barrier(writers + 1)
            errors: list[BaseException] = []

            def writer(info: SessionInfo) -> None:
                async def turns() -> None:
                    session = MemchatSession(store, info)
                    for n in range(WARMUP_TURNS):
                        await turn(session, *pair(n))
                    start.wait()
                    for n in range(turns_each):
                        await turn(session, *pair(n))

                try:
                    asyncio.run(turns())
                except BaseException as exc:
                    errors.append(exc)
                    start.abort()

            threads = [threading.Thread(target=writer, args=(info,)) for info in infos]
            for thread in threads:
                thread.start()
            start.wait()
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        if errors:
            raise errors[0]
        return elapsed


async def turn(session: MemchatSession, user: Item, reply: Item) -> None:
    """One turn as the chat writes it."""
    async with session.turn() as open_turn:
        await session.add_items([user])
        await session.add_items([reply])
        open_turn.usage = USAGE  # as the chat sets it


class SdkColumn:
    """The SDK's SQLAlchemySession on asyncpg, one task per writer in one event loop."""

    name = "SDK SQLAlchemySession"

    def __init__(self, url: str, schema: str) -> None:
        self.url = url.replace("postgresql://", "postgresql+asyncpg://", 1).replace(
            "postgres://", "postgresql+asyncpg://", 1
        )
        self.schema = schema
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))

    def run(self, writers: int, mode: str, turns_each: int, pair: Pair) -> float:
        """Write ``turns_each`` turns per writer; return the wall time in seconds."""
        return asyncio.run(self._run(writers, mode, turns_each, pair))

    async def _run(self, writers: int, mode: str, turns_each: int, pair: Pair) -> float:
        engine = create_async_engine(
            self.url,
            pool_size=writers,
            max_overflow=0,
            connect_args={"server_settings": {"search_path": self.schema}},
        )
        try:
            names = [f"{mode}-{writers}" if mode == "shared" else f"w{n}" for n in range(writers)]
            sessions = [
                SQLAlchemySession(f"bench{writers}{mode}-{name}", engine=engine, create_tables=True)
                for name in names
            ]
            await sessions[0].get_items()  # creates the tables once, before any writer
            await asyncio.gather(*(self._turns(s, WARMUP_TURNS, pair) for s in sessions))
            began = time.perf_counter()
            await asyncio.gather(*(self._turns(s, turns_each, pair) for s in sessions))
            return time.perf_counter() - began
        finally:
            await engine.dispose()

    @staticmethod
    async def _turns(session: SQLAlchemySession, count: int, pair: Pair) -> None:
        for n in range(count):
            user, reply = pair(n)
            await session.add_items([user])
            await session.add_items([reply])


def bench_postgres(url: str, turns: int, pair: Pair) -> dict[str, Any]:
    """turns/s of both columns for every writer count and mode; about ``turns`` turns each."""
    tag = secrets.token_hex(4)
    schemas = (f"memchat_bench_{tag}", f"sdk_bench_{tag}")
    columns = [MemchatColumn(url, schemas[0]), SdkColumn(url, schemas[1])]
    results: dict[str, dict[str, float]] = {}
    try:
        for column in columns:  # untimed: fresh tables, caches and the server warm up
            column.run(1, "separate", 100, pair)
        for writers in WRITERS:
            turns_each = max(turns // writers // ROUNDS, 1)
            for mode in MODES:
                key = f"{writers} {mode}"
                elapsed = {column.name: 0.0 for column in columns}
                for round_ in range(ROUNDS):
                    order = columns if round_ % 2 == 0 else columns[::-1]
                    for column in order:
                        elapsed[column.name] += column.run(writers, mode, turns_each, pair)
                done = writers * turns_each * ROUNDS
                results[key] = {name: done / seconds for name, seconds in elapsed.items()}
    finally:
        drop_schemas(url, *schemas)
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "server": row[0] if row else "?",
        "turns": turns,
        "turns_per_s": results,
        "memchat_8_separate": results["8 separate"][MemchatColumn.name],
        "memchat_vs_sdk_8_separate": results["8 separate"][MemchatColumn.name]
        / results["8 separate"][SdkColumn.name],
    }


def print_postgres(report: dict[str, Any]) -> None:
    """Print the PostgreSQL table in Markdown."""
    print(
        f"\nPostgreSQL {report['server']}: turns/s with concurrent writers"
        f" (about {report['turns']} turns per cell):\n"
    )
    names = (MemchatColumn.name, SdkColumn.name)
    print("| writers | sessions | " + " | ".join(names) + " | memchat / SDK |")
    print("|---:|---|" + "---:|" * (len(names) + 1))
    for key, row in report["turns_per_s"].items():
        writers, mode = key.split()
        cells = " | ".join(f"{row[name]:,.0f}" for name in names)
        print(f"| {writers} | {mode} | {cells} | {row[names[0]] / row[names[1]]:.2f}x |")
    print(
        f"\nmemchat with 8 writers (separate sessions): {report['memchat_8_separate']:,.0f}"
        f" turns/s (goal >= {PG_GOAL:,.0f}); {report['memchat_vs_sdk_8_separate']:.2f}x the SDK"
    )
