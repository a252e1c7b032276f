"""Store speed: memchat's turn writes and reads against the Agents SDK's session and sqlite3.

Writes the same turns (a user message and an SDK-shaped assistant reply) four ways, each
into its own fresh database:

* memchat: ``async with session.turn()`` around two ``add_items`` calls, as the chat does;
* memchat commit_turn: ``SQLiteStore.commit_turn`` alone, without the session or its lock;
* memchat commit_turn, no usage: the same without the turn's usage row (the chat always
  writes one: this column shows what it costs);
* SDK SQLiteSession: two ``add_items`` calls, as the SDK's Runner writes one turn;
* plain sqlite3: one transaction inserting the same two rows, the physical limit.

Then times ``get_items(limit=20)`` in one session of 100, 1,000, 10,000 and 100,000 turns.

    python bench/store.py [--turns 2000] [--reads 500] [--json] [--dir DIR]
        [--postgres URL [--pg-turns 2000] [--only-postgres]]

The goal: memchat writes at least 60% of the plain limit's turns/s and 3x the SDK's, and
its read latency stays flat from 100 to 100,000 turns.

With ``--postgres URL`` (default: MEMCHAT_BENCH_POSTGRES_URL, else MEMCHAT_TEST_POSTGRES_URL)
it also runs the PostgreSQL columns (bench/store_postgres.py): memchat's PostgresStore
against the SDK's SQLAlchemySession with 1, 8 and 32 concurrent writers; the goal there is
at least 2,000 turns/s with 8 writers, ahead of the SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from agents import SQLiteSession

from memchat.store import MemchatSession, SQLiteStore, Turn
from memchat.store.base import Item, SessionRecord, now
from memchat.store.usage import TurnUsage

USER = "bench"
# What the chat stores with each turn (store/usage.py).
USAGE = TurnUsage("gpt-4.1-mini", 812, 64, 1, 420, 1900)
SESSION = "s1"
READ_LIMIT = 20
READ_LEVELS = (100, 1_000, 10_000, 100_000)
# Columns take turns in blocks of this many operations, so a burst of load from other work
# on the machine hits every column alike instead of whichever ran at that moment.
BLOCK = 100
WARMUP_READS = 20
WRITE_GOAL = 0.60
SDK_GOAL = 3.0
USER_TEXT = "message {n}: please remember that the meeting moved to Thursday at ten, room B."
REPLY_TEXT = (
    "Noted: the meeting is now on Thursday at ten in room B. I will remind you the day before "
    "and again an hour ahead. If the room changes again, tell me and I will update the note. "
    "Is there anything to prepare, such as slides, a short agenda or the figures from last "
    "quarter's report, that I should keep in mind for reply {n}?"
)


def user_item(n: int) -> Item:
    """The user's message of turn ``n`` (about 100 characters)."""
    return {"role": "user", "content": USER_TEXT.format(n=n)}


def reply_item(n: int) -> Item:
    """The assistant's reply of turn ``n``, shaped like the SDK's output (~300 characters)."""
    return {
        "id": "__fake_id__",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {
                "type": "output_text",
                "text": REPLY_TEXT.format(n=n),
                "annotations": [],
                "logprobs": [],
            }
        ],
    }


def fill_turns(count: int) -> Iterator[tuple[int, list[Item]]]:
    """Turns 1..count for filling a database, all sharing one reply object.

    Sharing keeps 100,000 turns' worth of dicts out of memory; the stored rows still have
    the size and shape of real ones.
    """
    reply = reply_item(0)
    for n in range(1, count + 1):
        yield n, [user_item(n), reply]


def encode(item: Item) -> str:
    """The JSON memchat stores for an item, used for the plain rows so both write the same."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def percentile(sorted_ms: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted samples."""
    rank = max(math.ceil(fraction * len(sorted_ms)) - 1, 0)
    return sorted_ms[rank]


@dataclass
class Timings:
    """Per-operation latencies of one column, in nanoseconds."""

    samples_ns: list[int]

    def summary(self) -> dict[str, float]:
        """Operations per second of busy time, and p50/p99 latency in milliseconds."""
        ms = sorted(ns / 1e6 for ns in self.samples_ns)
        return {
            "per_s": len(ms) / (sum(ms) / 1e3),
            "p50_ms": percentile(ms, 0.50),
            "p99_ms": percentile(ms, 0.99),
        }


# -- the columns -----------------------------------------------------------------------------


class Column(ABC):
    """One way of storing turns, in its own database file."""

    name: str

    @abstractmethod
    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the database at ``path``."""

    @classmethod
    @abstractmethod
    def filled(cls, path: Path, turns: int) -> Self:
        """Open a database whose one session already holds ``turns`` turns."""

    @abstractmethod
    async def write_turn(self, user: Item, reply: Item) -> None:
        """Store one turn durably."""

    @abstractmethod
    async def read_latest(self) -> list[Any]:
        """The session's latest ``READ_LIMIT`` items, oldest first."""

    @abstractmethod
    def close(self) -> None:
        """Release the database."""


class MemchatTurn(Column):
    """memchat's own path: one ``turn()`` block, committed as one transaction at its end."""

    name = "memchat"

    def __init__(self, path: Path) -> None:
        self.store = SQLiteStore(path)
        self.session = MemchatSession(self.store, self.store.ensure_session(USER, SESSION))

    @classmethod
    def filled(cls, path: Path, turns: int) -> Self:
        # import_sessions writes every turn in one transaction: one fsync instead of 100,000.
        stamp = now()
        turn_list = [Turn(n, stamp, items) for n, items in fill_turns(turns)]
        record = SessionRecord(
            user=USER, id=SESSION, title=None, created_at=stamp, metadata={}, turns=turn_list
        )
        with SQLiteStore(path) as store:
            store.import_sessions([record])
        return cls(path)

    async def write_turn(self, user: Item, reply: Item) -> None:
        async with self.session.turn() as turn:
            await self.session.add_items([user])
            await self.session.add_items([reply])
            turn.usage = USAGE  # as the chat sets it

    async def read_latest(self) -> list[Any]:
        return await self.session.get_items(READ_LIMIT)

    def close(self) -> None:
        self.store.close()


class MemchatCommit(MemchatTurn):
    """The store's transaction alone, without the session's buffering and turn lock."""

    name = "memchat commit_turn"

    async def write_turn(self, user: Item, reply: Item) -> None:
        self.store.commit_turn(self.session.info, [user, reply], usage=USAGE)


class MemchatCommitBare(MemchatTurn):
    """``commit_turn`` without a usage row: what the usage row costs a turn."""

    name = "memchat commit_turn, no usage"

    async def write_turn(self, user: Item, reply: Item) -> None:
        self.store.commit_turn(self.session.info, [user, reply])


class SdkSession(Column):
    """The Agents SDK's ``SQLiteSession``, written the way its Runner writes a turn."""

    name = "SDK SQLiteSession"

    def __init__(self, path: Path) -> None:
        self.session = SQLiteSession(SESSION, path)

    @classmethod
    def filled(cls, path: Path, turns: int) -> Self:
        column = cls(path)  # creates the SDK's schema
        rows = ((SESSION, json.dumps(item)) for _, items in fill_turns(turns) for item in items)
        with closing(sqlite3.connect(path)) as conn:
            # Only this filling connection skips fsync; the session's own are untouched.
            conn.execute("PRAGMA synchronous = OFF")
            with conn:
                conn.execute("INSERT INTO agent_sessions (session_id) VALUES (?)", (SESSION,))
                conn.executemany(
                    "INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)", rows
                )
        return column

    async def write_turn(self, user: Item, reply: Item) -> None:
        await self.session.add_items([user])
        await self.session.add_items([reply])

    async def read_latest(self) -> list[Any]:
        return await self.session.get_items(READ_LIMIT)

    def close(self) -> None:
        self.session.close()


class PlainSqlite(Column):
    """The physical limit: bare sqlite3 with memchat's pragmas, one transaction per turn."""

    name = "plain sqlite3"
    INSERT = "INSERT INTO agent_messages (session_id, message_data, created_at) VALUES (?, ?, ?)"

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        # The SDK's table and index: a store of many sessions needs the index to read one.
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS agent_messages (id INTEGER PRIMARY KEY,"
            " session_id TEXT NOT NULL, message_data TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        self.conn.execute(
            "CREATE INDEX IF NOT EXISTS messages_by_session ON agent_messages (session_id, id)"
        )

    @classmethod
    def filled(cls, path: Path, turns: int) -> Self:
        column = cls(path)
        stamp = now()
        rows = ((SESSION, encode(item), stamp) for _, items in fill_turns(turns) for item in items)
        column.conn.execute("PRAGMA synchronous = OFF")
        column.conn.execute("BEGIN")
        column.conn.executemany(cls.INSERT, rows)
        column.conn.execute("COMMIT")
        column.conn.execute("PRAGMA synchronous = FULL")
        return column

    async def write_turn(self, user: Item, reply: Item) -> None:
        stamp = now()
        rows = [(SESSION, encode(user), stamp), (SESSION, encode(reply), stamp)]
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self.INSERT, rows)
        self.conn.execute("COMMIT")

    async def read_latest(self) -> list[Any]:
        rows = self.conn.execute(
            "SELECT message_data FROM agent_messages WHERE session_id = ? ORDER BY id DESC LIMIT ?",
            (SESSION, READ_LIMIT),
        ).fetchall()
        return [json.loads(data) for (data,) in reversed(rows)]

    def close(self) -> None:
        self.conn.close()


WRITE_COLUMNS: tuple[type[Column], ...] = (
    MemchatTurn,
    MemchatCommit,
    MemchatCommitBare,
    SdkSession,
    PlainSqlite,
)
READ_COLUMNS: tuple[type[Column], ...] = (MemchatTurn, SdkSession, PlainSqlite)


# -- measuring -------------------------------------------------------------------------------


async def time_interleaved(
    operations: Sequence[Callable[[int], Awaitable[object]]], count: int
) -> list[Timings]:
    """Run each operation ``count`` times, in rotating blocks, timing every call."""
    timings = [Timings([]) for _ in operations]
    for block, start in enumerate(range(0, count, BLOCK)):
        order = [(block + k) % len(operations) for k in range(len(operations))]
        for index in order:
            operation, samples = operations[index], timings[index].samples_ns
            for n in range(start, min(start + BLOCK, count)):
                began = time.perf_counter_ns()
                await operation(n)
                samples.append(time.perf_counter_ns() - began)
    return timings


def fresh_db(root: Path, column: type[Column]) -> Path:
    """A database path in a new directory of its own."""
    slug = column.name.replace(" ", "-").lower()
    return Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=root)) / "bench.db"


async def bench_writes(root: Path, turns: int) -> dict[str, dict[str, float]]:
    """Write ``turns`` turns through every write column and summarise each."""
    columns = [column(fresh_db(root, column)) for column in WRITE_COLUMNS]
    users = [user_item(n) for n in range(turns)]
    replies = [reply_item(n) for n in range(turns)]

    def writer(column: Column) -> Callable[[int], Awaitable[None]]:
        return lambda n: column.write_turn(users[n], replies[n])

    try:
        timings = await time_interleaved([writer(c) for c in columns], turns)
    finally:
        for column in columns:
            column.close()
    return {c.name: t.summary() for c, t in zip(columns, timings, strict=True)}


async def checked_read(column: Column) -> None:
    """Read the latest items, failing loudly if a column returns the wrong number."""
    items = await column.read_latest()
    if len(items) != READ_LIMIT:
        raise RuntimeError(f"{column.name} returned {len(items)} items, not {READ_LIMIT}")


async def bench_reads_at(root: Path, turns: int, reads: int) -> dict[str, dict[str, float]]:
    """Time ``reads`` latest-window reads per read column in sessions of ``turns`` turns."""
    columns = [column.filled(fresh_db(root, column), turns) for column in READ_COLUMNS]
    try:
        for column in columns:
            for _ in range(WARMUP_READS):
                await checked_read(column)
        readers = [lambda _n, c=column: checked_read(c) for column in columns]
        timings = await time_interleaved(readers, reads)
    finally:
        for column in columns:
            column.close()
    return {c.name: t.summary() for c, t in zip(columns, timings, strict=True)}


def sdk_pragmas(root: Path) -> dict[str, Any]:
    """The pragmas a connection configured as the SDK configures its own ends up with."""
    with closing(sqlite3.connect(fresh_db(root, SdkSession))) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": mode, "synchronous": names.get(synchronous, str(synchronous))}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the write and read benches in a scratch directory and return every figure."""
    root = Path(tempfile.mkdtemp(prefix="memchat-bench-store-", dir=args.dir))
    try:
        writes = await bench_writes(root, args.turns)
        reads = {level: await bench_reads_at(root, level, args.reads) for level in READ_LEVELS}
        pragmas = sdk_pragmas(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "turns": args.turns,
        "reads": args.reads,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "dir": str(args.dir or tempfile.gettempdir()),
        },
        "sdk_pragmas": pragmas,
        "writes": writes,
        "reads_ms": {str(level): figures for level, figures in reads.items()},
        "ratios": ratios(writes, reads),
    }


def ratios(
    writes: dict[str, dict[str, float]], reads: dict[int, dict[str, dict[str, float]]]
) -> dict[str, float]:
    """memchat against the plain limit and the SDK, and its read growth from 100 to 100k."""
    memchat = writes[MemchatTurn.name]["per_s"]
    first, last = reads[READ_LEVELS[0]], reads[READ_LEVELS[-1]]
    return {
        "memchat_vs_plain": memchat / writes[PlainSqlite.name]["per_s"],
        "memchat_vs_sdk": memchat / writes[SdkSession.name]["per_s"],
        "commit_turn_vs_plain": writes[MemchatCommit.name]["per_s"]
        / writes[PlainSqlite.name]["per_s"],
        "usage_row_cost": writes[MemchatCommit.name]["p50_ms"]
        / writes[MemchatCommitBare.name]["p50_ms"],
        "memchat_read_p50_growth": last[MemchatTurn.name]["p50_ms"]
        / first[MemchatTurn.name]["p50_ms"],
    }


# -- reporting -------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    """Print Markdown tables that can be pasted into bench/README.md, then the ratios."""
    if "writes" not in report:
        return  # --only-postgres
    machine, pragmas = report["machine"], report["sdk_pragmas"]
    print(
        f"{machine['cpus']} CPUs, Python {machine['python']}, SQLite {machine['sqlite']},"
        f" databases under {machine['dir']}; SDK session ran with journal_mode="
        f"{pragmas['journal_mode']}, synchronous={pragmas['synchronous']}\n"
    )
    print(f"Turn writes ({report['turns']} turns per column):\n")
    print("| column | turns/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for name, row in report["writes"].items():
        print(f"| {name} | {row['per_s']:,.0f} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} |")
    names = [column.name for column in READ_COLUMNS]
    print(f"\n`get_items(limit={READ_LIMIT})`, p50 / p99 ms ({report['reads']} reads each):\n")
    print("| turns in session | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for level, figures in report["reads_ms"].items():
        cells = [f"{figures[n]['p50_ms']:.3f} / {figures[n]['p99_ms']:.3f}" for n in names]
        print(f"| {int(level):,} | " + " | ".join(cells) + " |")
    r = report["ratios"]
    print(
        f"\nmemchat / plain limit: {r['memchat_vs_plain']:.0%} (goal >= {WRITE_GOAL:.0%});"
        f" commit_turn alone: {r['commit_turn_vs_plain']:.0%}"
    )
    print(f"memchat / SDK: {r['memchat_vs_sdk']:.2f}x (goal >= {SDK_GOAL:g}x)")
    print(f"commit_turn p50 with its usage row / without: {r['usage_row_cost']:.2f}")
    print(f"memchat read p50 at 100,000 turns / at 100: {r['memchat_read_p50_growth']:.2f}")


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--turns", type=int, default=2000, help="turns written per column")
    parser.add_argument("--reads", type=int, default=500, help="reads timed per column and size")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the scratch databases go (default: temp)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("MEMCHAT_BENCH_POSTGRES_URL")
        or os.environ.get("MEMCHAT_TEST_POSTGRES_URL"),
        help="also bench PostgreSQL on this server (scratch schemas, dropped afterwards)",
    )
    parser.add_argument(
        "--pg-turns", type=int, default=2000, help="turns per PostgreSQL column and cell"
    )
    parser.add_argument("--only-postgres", action="store_true", help="skip the SQLite columns")
    return parser.parse_args()


def main() -> int:
    """Run the bench; exit 1 when memchat misses a write goal."""
    args = parse_args()
    report = {} if args.only_postgres else asyncio.run(run(args))
    met = True
    if args.postgres:
        # Imported only here: psycopg, SQLAlchemy and asyncpg are needed for this part only.
        from store_postgres import PG_GOAL, bench_postgres, print_postgres

        turn_pairs = [(user_item(n), reply_item(n)) for n in range(1000)]
        pg = report["postgres"] = bench_postgres(
            args.postgres, args.pg_turns, lambda n: turn_pairs[n % len(turn_pairs)]
        )
        met = pg["memchat_8_separate"] >= PG_GOAL and pg["memchat_vs_sdk_8_separate"] > 1
    print_report(report)
    if "postgres" in report:
        print_postgres(report["postgres"])
    if args.json:
        print(json.dumps(report))
    if "ratios" in report:
        r = report["ratios"]
        met = met and r["memchat_vs_plain"] >= WRITE_GOAL and r["memchat_vs_sdk"] >= SDK_GOAL
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
