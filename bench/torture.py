"""Crash torture: SIGKILL writers at random moments; no acknowledged turn may be lost.

Each round starts four writer processes, two in sessions of their own and two sharing one
session. A writer commits turns as fast as it can through memchat's turn path
(``async with session.turn()`` around ``add_items`` of a user item and a reply item) and
writes each turn to a pipe once its commit has returned: that line is the acknowledgement.
At a random moment the round SIGKILLs every writer (every fifth round already while they
start up, so opening and migrating a database is killed too), then checks the database:

* ``PRAGMA integrity_check`` says ok (SQLite only);
* every acknowledged turn is there, in its session, under the sequence number it was
  acknowledged with, whole: its user item then its reply, contents exactly as written;
* every stored turn is whole too (no half turn), none is stored twice, each writer's turns
  are a gap-free prefix of what it wrote, and a session's turn count matches its turns.

    python bench/torture.py [--kills 20] [--json] [--db PATH_OR_URL] [--seed N]

Without --db the run uses a fresh temporary SQLite file. With --db (any location
``memchat.store.open_store`` accepts) it writes as a user of its own, so an existing
database keeps everything else. With --json the last line is the summary as JSON.
Exit status 1 means something was lost or corrupt, or a writer died of something else.

The writers are forked from a fork server that has imported memchat once, so a round costs
milliseconds rather than a second of imports per writer; each writer opens its own store.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from memchat.errors import SessionExists, UserNotFound
from memchat.store import MemchatSession, SQLiteStore, Store, open_store
from memchat.store.base import Item

# Four writers per round: two sessions of their own and one session shared by two.
SESSIONS = ("solo-1", "solo-2", "shared", "shared")
# Every fifth round (the first included, on a fresh database) kills the writers while they
# open the store: connecting, migrating, creating their sessions, first turns.
EARLY_EVERY = 5
EARLY_WINDOW = 0.02
READY_TIMEOUT = 60.0
# Message bodies: mostly short, some spanning SQLite overflow pages; JSON's special
# characters, multi-byte and astral characters included.
ALPHABET = 'abcdefghij KLMNOP 0123456789 éß€ 𝄞 "\\{}[]:,\n\t'
SIZES = (0, 20, 200, 2_000, 20_000)
SIZE_WEIGHTS = (40, 30, 20, 8, 2)


def turn_items(tag: str, n: int) -> list[Item]:
    """The exact items of writer ``tag``'s turn ``n``; the check derives them again."""
    rng = random.Random(f"{tag}/{n}")
    body = "".join(rng.choices(ALPHABET, k=rng.choices(SIZES, SIZE_WEIGHTS)[0]))
    return [
        {"role": "user", "content": f"{tag} {n} {body}"},
        {
            "id": f"msg_{tag}_{n}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": f"reply {n}: {body[::-1]}"}],
        },
    ]


def turn_key(items: list[Item]) -> tuple[str, int] | None:
    """The (writer tag, turn number) a stored turn claims to be, or None if unreadable."""
    content = items[0].get("content") if items else None
    if not isinstance(content, str):
        return None
    tag, _, rest = content.partition(" ")
    number, _, _ = rest.partition(" ")
    return (tag, int(number)) if number.isdigit() else None


# -- the writers -----------------------------------------------------------------------------
#
# Writers are forked from a fork server: a process that has imported memchat once and forks
# a writer per request, so a round costs milliseconds instead of a second of imports per
# writer. The server imports but never opens a store; each writer opens its own.


async def write_forever(location: str, user: str, session_id: str, tag: str, out: IO[str]) -> None:
    """Commit turns until killed, acknowledging each on ``out`` after its commit returns."""
    print("opening", file=out, flush=True)
    store = open_store(location)
    try:
        info = store.ensure_session(user, session_id)
    except SessionExists:
        # The other writer of the shared session created it a moment ago: ensure_session
        # checks, then creates, and is not atomic across processes.
        info = store.get_session(user, session_id)
    session = MemchatSession(store, info)
    print("ready", file=out, flush=True)
    for n in itertools.count():
        user_item, reply = turn_items(tag, n)
        async with session.turn() as turn:
            await session.add_items([user_item])
            await session.add_items([reply])
        ack = {"tag": tag, "n": n, "session": session_id, "seq": turn.seq}
        print(json.dumps(ack), file=out, flush=True)


def serve_forks(channel: socket.socket) -> None:
    """The fork server: for each request (a spec and a pipe), fork a writer; reply its pid."""
    # The kernel reaps the writers: nothing here waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        data, fds, _, _ = socket.recv_fds(channel, 4096, 1)
        if not data:
            return
        pid = os.fork()
        if pid == 0:
            channel.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                spec = json.loads(data)
                with os.fdopen(fds[0], "w") as out:
                    asyncio.run(
                        write_forever(spec["db"], spec["user"], spec["session"], spec["tag"], out)
                    )
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        os.close(fds[0])
        channel.sendall(f"{pid}\n".encode())


class ForkServer:
    """The fork server process, seen from the parent."""

    def __init__(self) -> None:
        self._channel, theirs = socket.socketpair()
        # Closed in close(): writers report their tracebacks here.
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--fork-server", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stderr=self.stderr,
        )
        theirs.close()
        self._replies = self._channel.makefile("rb")

    def fork(self, spec: dict[str, str]) -> tuple[int, int]:
        """Fork a writer; return its pid and the read end of its acknowledgement pipe."""
        read, write = os.pipe()
        socket.send_fds(self._channel, [json.dumps(spec).encode()], [write])
        os.close(write)
        return int(self._replies.readline()), read

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()

    def close(self) -> None:
        self._replies.close()
        self._channel.close()
        self.process.wait(30)
        self.stderr.close()


class Writer:
    """A forked writer process and the acknowledgements read from its pipe."""

    def __init__(self, server: ForkServer, spec: dict[str, str]) -> None:
        self.pid, fd = server.fork(spec)
        self._acks = os.fdopen(fd, "rb")
        self.opening = threading.Event()
        self.ready = threading.Event()
        self.killed = False
        # Whether its store was open and its session ready when the kill came.
        self.was_ready = False
        # Set when the pipe closed before the kill: the writer died of something else.
        self.died = False
        self.acks: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self._acks:
            # A line cut by the kill has no newline: it was never acknowledged.
            if not raw.endswith(b"\n"):
                break
            if raw == b"opening\n":
                self.opening.set()
            elif raw == b"ready\n":
                self.ready.set()
            else:
                self.acks.append(json.loads(raw))
        self.died = not self.killed
        self.opening.set()
        self.ready.set()

    def kill(self) -> None:
        self.killed = True
        self.was_ready = self.ready.is_set()
        os.kill(self.pid, signal.SIGKILL)

    def finish(self) -> bool:
        """Wait until the pipe has closed; return False if the writer died before the kill."""
        self._reader.join(30)
        self._acks.close()
        return not self.died and not self._reader.is_alive()


# -- the check -------------------------------------------------------------------------------


@dataclass
class Check:
    """What one look at the database found."""

    turns: int = 0
    lost: int = 0
    corrupt: int = 0
    # Committed, but the kill came before the acknowledgement was printed (allowed).
    unacknowledged: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str, *, lost: bool = False) -> None:
        if lost:
            self.lost += 1
        else:
            self.corrupt += 1
        if len(self.problems) < 20:
            self.problems.append(problem)


def sqlite_path(store: Store) -> str | None:
    """The database file of a SQLite store, or None for another backend."""
    return store.location if isinstance(store, SQLiteStore) else None


def integrity_problems(path: str) -> list[str]:
    """SQLite's own verdict on the file: [] when it is sound."""
    with closing(sqlite3.connect(path)) as conn:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        keys = conn.execute("PRAGMA foreign_key_check").fetchall()
    problems = [] if rows == ["ok"] else [f"integrity_check: {r}" for r in rows[:10]]
    return problems + [f"foreign_key_check: {row}" for row in keys[:10]]


def check(location: str, user: str, acks: dict[tuple[str, int], tuple[str, int]]) -> Check:
    """Check the database against every acknowledgement so far (see the module docstring)."""
    result = Check()
    stored: dict[tuple[str, int], tuple[str, int]] = {}
    with open_store(location) as store:
        path = sqlite_path(store)
        for problem in integrity_problems(path) if path else []:
            result.fail(problem)
        try:
            sessions = store.list_sessions(user)
        except UserNotFound:
            sessions = []  # every writer so far died before creating its session
        for info in sessions:
            turns = store.get_turns(info)
            result.turns += len(turns)
            if info.turn_count != len(turns):
                result.fail(f"{info.id}: turn_count {info.turn_count}, {len(turns)} turns")
            for turn in turns:
                key = turn_key(turn.items)
                if key is None or turn.items != turn_items(*key):
                    result.fail(f"{info.id} turn {turn.seq}: not one whole turn")
                elif key in stored:
                    result.fail(f"{info.id} turn {turn.seq}: {key} stored twice")
                else:
                    stored[key] = (info.id, turn.seq)
    for key, place in acks.items():
        if key not in stored:
            result.fail(f"acknowledged turn {key} at {place} is missing", lost=True)
        elif stored[key] != place:
            result.fail(f"acknowledged turn {key} at {place} is at {stored[key]}")
    by_writer: dict[str, list[int]] = defaultdict(list)
    for tag, n in stored:
        by_writer[tag].append(n)
    for tag, numbers in by_writer.items():
        numbers.sort()
        if numbers != list(range(len(numbers))):
            result.fail(f"writer {tag}: stored turns have gaps")
        extra = [n for n in numbers if (tag, n) not in acks]
        result.unacknowledged += len(extra)
        if extra and extra != [numbers[-1]]:
            result.fail(f"writer {tag}: unacknowledged turns {extra} before its last one")
        seqs = [stored[tag, n][1] for n in numbers]
        if seqs != sorted(seqs):
            result.fail(f"writer {tag}: turns stored out of order")
    return result


# -- the rounds ------------------------------------------------------------------------------


@dataclass
class Report:
    """The whole run: what was killed, acknowledged and found."""

    kills: int = 0
    processes_killed: int = 0
    # Writers killed before their store was open and their session ready.
    killed_while_opening: int = 0
    acknowledged: int = 0
    turns: int = 0
    # Turns checked, summed over every check (each check reads every stored turn).
    turn_checks: int = 0
    unacknowledged: int = 0
    lost: int = 0
    corrupt: int = 0
    # Writers that ended on their own instead of by the kill.
    failures: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def add(
        self,
        found: Check,
        killed: int,
        opening: int,
        problems: list[str],
        acks: dict[tuple[str, int], tuple[str, int]],
    ) -> None:
        """Count one round and the check after it."""
        self.kills += 1
        self.processes_killed += killed
        self.killed_while_opening += opening
        self.failures += len(problems)
        self.problems += problems + found.problems
        # Acknowledgements are kept from round to round and every check reads the whole
        # database, so the worst check counts everything lost or corrupt so far.
        self.corrupt = max(self.corrupt, found.corrupt)
        self.lost = max(self.lost, found.lost)
        self.turns, self.unacknowledged = found.turns, found.unacknowledged
        self.turn_checks += found.turns
        self.acknowledged = len(acks)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("problems")
        return data


def run_round(
    server: ForkServer,
    location: str,
    user: str,
    round_no: int,
    rng: random.Random,
    max_delay: float,
    acks: dict[tuple[str, int], tuple[str, int]],
) -> tuple[int, int, list[str]]:
    """Start the writers, kill them, and record their acknowledgements.

    Returns how many were killed, how many of those while opening the store, and why any
    writer ended on its own.
    """
    specs = [
        {"db": location, "user": user, "session": session_id, "tag": f"r{round_no}w{k}"}
        for k, session_id in enumerate(SESSIONS)
    ]
    problems: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT
    if round_no % EARLY_EVERY == 0:
        # One at a time, each writer dies within moments of starting to open the store.
        writers = []
        for spec in specs:
            writer = Writer(server, spec)
            writer.opening.wait(max(deadline - time.monotonic(), 0))
            # Half of them at once: opening a migrated store takes about a millisecond.
            time.sleep(rng.choice((0.0, rng.uniform(0.0, EARLY_WINDOW))))
            writer.kill()
            writers.append(writer)
    else:
        # All write at once (the shared session's two contend for it), then all die.
        writers = [Writer(server, spec) for spec in specs]
        for writer in writers:
            writer.ready.wait(max(deadline - time.monotonic(), 0))
        time.sleep(rng.uniform(0.0, max_delay))
        for writer in rng.sample(writers, len(writers)):
            writer.kill()
            time.sleep(rng.uniform(0.0, 0.01))
    opening = sum(not writer.was_ready for writer in writers)
    for writer in writers:
        if not writer.finish():
            problems.append(f"writer {writer.pid} died before the kill: {server.errors()[-2000:]}")
        for ack in writer.acks:
            acks[ack["tag"], ack["n"]] = (ack["session"], ack["seq"])
    return len(writers), opening, problems


def torture(
    location: str,
    kills: int,
    *,
    seed: int,
    max_delay: float = 1.0,
    log: IO[str] | None = None,
) -> Report:
    """Run ``kills`` rounds against ``location`` and check the database after each."""
    rng = random.Random(seed)
    user = f"torture-{secrets.token_hex(3)}"
    acks: dict[tuple[str, int], tuple[str, int]] = {}
    report = Report()
    started = time.perf_counter()
    server = ForkServer()
    try:
        for round_no in range(kills):
            killed, opening, problems = run_round(
                server, location, user, round_no, rng, max_delay, acks
            )
            found = check(location, user, acks)
            report.add(found, killed, opening, problems, acks)
            if log is not None:
                print(
                    f"kill {round_no + 1}/{kills}: {killed} writers killed ({opening} while "
                    f"opening the store); {len(acks):,} turns acknowledged, {found.turns:,} "
                    f"stored and checked; lost {found.lost}, corrupt {found.corrupt}, "
                    f"writer failures {len(problems)}",
                    file=log,
                    flush=True,
                )
    finally:
        server.close()
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kill-and-check rounds")
    parser.add_argument("--db", help="database path or URL (default: a fresh temporary file)")
    parser.add_argument("--seed", type=int, help="random seed (default: a random one)")
    parser.add_argument("--max-delay", type=float, default=1.0, help="longest run before a kill")
    parser.add_argument("--json", action="store_true", help="end with a JSON summary line")
    parser.add_argument("--fork-server", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.fork_server is not None:
        serve_forks(socket.socket(fileno=args.fork_server))
        return 0
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    with tempfile.TemporaryDirectory(prefix="memchat-torture-") as scratch:
        location = args.db or str(Path(scratch) / "torture.db")
        print(f"torture: {args.kills} kills of {len(SESSIONS)} writers, seed {seed}, {location}")
        report = torture(location, args.kills, seed=seed, max_delay=args.max_delay, log=sys.stdout)
    for problem in report.problems:
        print(f"  problem: {problem}")
    summary = report.summary()
    print(
        f"{report.kills} kills ({report.processes_killed} processes, "
        f"{report.killed_while_opening} while opening) in {report.seconds} s: "
        f"{report.acknowledged:,} turns acknowledged, {report.turns:,} stored "
        f"({report.unacknowledged} committed just before a kill, unacknowledged); "
        f"lost {report.lost}, corrupt {report.corrupt}, writer failures {report.failures}"
    )
    if args.json:
        print(json.dumps(summary))
    return 0 if report.lost == report.corrupt == report.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
