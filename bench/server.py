"""HTTP throughput: turns/s and latency through ``memchat serve``'s app, with a scripted model.

Starts the real server (uvicorn running memchat's app, with 1, 2 and 8 worker processes)
on 127.0.0.1 over SQLite and, if given one, PostgreSQL; then keeps ``--clients``
connections busy (one user each) sending messages for ``--seconds``, each reading the
whole server-sent event stream of its reply. A turn is timed from sending the request to
the end of its reply (the ``done`` event, after the turn is committed). The model is the
Agents SDK's ``ScriptedModel``, answering a fixed ~300-character reply, so what is
measured is memchat: authentication, context assembly (with recall), the SDK's run loop,
the turn's commit and the HTTP stream. Each client starts a new session every
``--turns-per-session`` turns.

Each configuration runs through both APIs (``--api``): memchat's own (``api``: a session
created with ``POST /api/sessions``, then one message per turn) and the OpenAI-compatible
one (``v1``: ``POST /v1/chat/completions``, streamed, sending the whole conversation every
turn as OpenAI clients do, so memchat finds the session from it and checks the history).

    python bench/server.py [--workers 1,2,8] [--clients 16] [--seconds 10] [--json]
        [--postgres URL] [--recall-k N] [--api api,v1]

``--postgres`` defaults to MEMCHAT_BENCH_POSTGRES_URL, else MEMCHAT_TEST_POSTGRES_URL;
without either only SQLite runs. The goal: at least 300 turns/s on a 2-core machine.
Afterwards the bench checks that the store holds exactly the turns that were answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agents import Model, ModelResponse, ModelSettings, ModelTracing
from agents.testing import ScriptedModel, assistant_message
from fastapi import FastAPI

from memchat.config import load_settings
from memchat.models import ModelChoice
from memchat.server import create_app
from memchat.store import Store, open_store

BENCH_DIR = Path(__file__).resolve().parent
GOAL = 300.0
REPLY = (
    "Got it. I have made a note of that and will keep it in mind from now on; tell me if "
    "anything changes and I will update what I remember. Is there anything else you want "
    "me to help you prepare, or should we pick this up again tomorrow morning?"
)
# Users talk about many things: messages cycle through topics (with a counter), so recall
# searches a history of which a fair share, not all, matches each new message.
TOPICS = [
    "Remember: the quarterly budget review moved to Thursday at ten in room B",
    "my sister Ana arrives from Lisbon on the evening train",
    "the dentist appointment is next Monday at half past eight",
    "our team standup now starts fifteen minutes earlier",
    "the invoice for the printer repair still needs approval",
    "I prefer green tea without sugar in the afternoons",
    "the marathon training plan says twelve kilometres on Sunday",
    "the garden hose leaks near the tap and needs a new washer",
    "my passport expires in March so I must renew it soon",
    "the kids have a school concert on Friday evening",
    "the database migration is scheduled for the weekend window",
    "I am reading a novel about a lighthouse keeper in Norway",
    "the car insurance renewal quote went up by ten percent",
    "the landlord will fix the heating on Wednesday afternoon",
    "my favourite pasta recipe uses lemon zest and black pepper",
    "the conference talk about compilers was accepted",
]
MESSAGE = "{topic} ({n})"


# -- the server side: what each uvicorn worker runs ---------------------------------------


class BenchModel(Model):
    """A scripted model that replays one reply, as cheaply as a model can answer.

    The reply's stream events are recorded once from the SDK's ``ScriptedModel`` and
    replayed for every call: ``ScriptedModel`` itself deep-copies every input it is given
    (for tests that inspect ``model.calls``), which would bill the test double's
    bookkeeping to memchat. Each call gets its own shallow copies of the events (the SDK
    reads what they hold and changes none of it).
    """

    def __init__(self) -> None:
        self._events: list[Any] = []
        self._response: ModelResponse | None = None

    async def _script(self) -> None:
        if self._events:
            return
        scripted = ScriptedModel([[assistant_message(REPLY)], [assistant_message(REPLY)]])
        args = ("", "hi", ModelSettings(), [], None, [], ModelTracing.DISABLED)
        kwargs: dict[str, Any] = {
            "previous_response_id": None,
            "conversation_id": None,
            "prompt": None,
        }
        self._events = [e async for e in scripted.stream_response(*args, **kwargs)]
        self._response = await scripted.get_response(*args, **kwargs)

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        await self._script()
        for event in self._events:
            yield event.model_copy()

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        # Summaries call the model without streaming.
        await self._script()
        assert self._response is not None
        return self._response


def bench_app() -> FastAPI:
    """The app for one worker: memchat's own, over MEMCHAT_DB, answering with BenchModel."""
    model = BenchModel()
    return create_app(
        load_settings(), model_factory=lambda _: ModelChoice(model, "scripted", "bench")
    )


# -- the client side ----------------------------------------------------------------------


@dataclass
class Client:
    """One user sending turns one after another, a new session (and connection) now and then."""

    host: str
    port: int
    token: str
    turns_per_session: int
    # "api": memchat's own; "v1": the OpenAI-compatible API.
    api: str = "api"
    latencies: list[float] = field(default_factory=list)
    turns: int = 0
    errors: int = 0
    session: str = ""
    # The conversation so far, as an OpenAI client resends it (v1 only).
    history: list[dict[str, str]] = field(default_factory=list)

    async def run(self, warmup_until: float, until: float) -> None:
        n = 0
        while time.perf_counter() < until:
            # A new connection for each session, as a browser tab would open: the kernel
            # spreads connections over the workers as they are accepted, and connections
            # kept for the whole run would stay wherever the first burst put them.
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                if self.api == "v1":
                    # A new conversation: its first message makes it a session of its own.
                    self.history = []
                else:
                    _, body = await self._call(reader, writer, "POST", "/api/sessions", {})
                    self.session = json.loads(body)["id"]
                for _ in range(self.turns_per_session):
                    if time.perf_counter() >= until:
                        break
                    n += 1
                    await self._turn(reader, writer, n, warmup_until)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _turn(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        n: int,
        warmup_until: float,
    ) -> None:
        text = MESSAGE.format(topic=TOPICS[n % len(TOPICS)], n=n)
        started = time.perf_counter()
        if self.api == "v1":
            message = {"role": "user", "content": text}
            status, body = await self._call(
                reader,
                writer,
                "POST",
                "/v1/chat/completions",
                {"model": "memchat", "messages": [*self.history, message], "stream": True},
            )
            ok = status == 200 and b"data: [DONE]" in body
            if ok:
                self.history += [message, {"role": "assistant", "content": REPLY}]
        else:
            status, body = await self._call(
                reader, writer, "POST", f"/api/sessions/{self.session}/messages", {"text": text}
            )
            ok = status == 200 and b"event: done" in body
        ended = time.perf_counter()
        self.turns += ok
        if started >= warmup_until:
            if ok:
                self.latencies.append(ended - started)
            else:
                self.errors += 1

    async def _call(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        payload: Any,
    ) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        writer.write(
            (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length, chunked = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await reader.readexactly(length)
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readline()  # the CRLF after the last, empty chunk
        return status, b"".join(parts)


# -- one configuration: a backend and a number of workers --------------------------------


class BenchFailed(Exception):
    """A run that could not be measured."""


@dataclass
class Result:
    api: str
    backend: str
    workers: int
    clients: int
    turns_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    measured_turns: int
    # Server CPU time per turn (warm-up included), whatever else the machine is doing.
    server_cpu_ms: float | None


def cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by process ``pid`` and its children (Linux), or None."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                # After the command: state, ppid, ..., utime and stime are fields 12 and 13.
                if int(entry) == pid or int(fields[1]) == pid:
                    total += (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return None
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(
    location: str, workers: int, home: Path, recall_k: int | None
) -> Iterator[tuple[int, int]]:
    """Run the bench app under uvicorn with ``workers`` processes; yield its port and pid."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "OPENAI_"))}
    env |= {"MEMCHAT_DB": location, "MEMCHAT_HOME": str(home)}
    if recall_k is not None:
        env["MEMCHAT_RECALL_K"] = str(recall_k)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "server:bench_app",
        "--factory",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=home)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start (exit status {server.poll()})")
            time.sleep(0.1)
        # Every worker must be up, or the first seconds measure worker start-up.
        time.sleep(1.0 + 0.3 * workers)
        yield port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def prepare(store: Store, users: int) -> list[str]:
    """Users with one token each; return the tokens."""
    tokens = []
    for i in range(users):
        store.ensure_user(f"bench{i}")
        tokens.append(store.create_token(f"bench{i}"))
    return tokens


def stored_turns(store: Store) -> int:
    return sum(s.turn_count for u in store.list_users() for s in store.list_sessions(u.name))


async def load(port: int, tokens: list[str], args: argparse.Namespace) -> list[Client]:
    clients = [
        Client("127.0.0.1", port, tokens[i % len(tokens)], args.turns_per_session, args.api_now)
        for i in range(args.clients)
    ]
    start = time.perf_counter()
    warmup_until = start + args.warmup
    until = warmup_until + args.seconds
    await asyncio.gather(*(c.run(warmup_until, until) for c in clients))
    return clients


def run_one(
    api: str, backend: str, location: str, workers: int, args: argparse.Namespace
) -> Result:
    home = Path(tempfile.mkdtemp(prefix="memchat-bench-home-"))
    try:
        with open_store(location) as store:
            tokens = prepare(store, args.clients)
        with serving(location, workers, home, args.recall_k) as (port, pid):
            before = cpu_seconds(pid)
            clients = asyncio.run(load(port, tokens, argparse.Namespace(**vars(args), api_now=api)))
            after = cpu_seconds(pid)
        with open_store(location) as store:
            stored = stored_turns(store)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    answered = sum(c.turns for c in clients)
    if stored != answered:
        raise BenchFailed(f"{answered} turns answered but {stored} stored")
    latencies = sorted(x for c in clients for x in c.latencies)
    if not latencies:
        raise BenchFailed("no turn completed")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    answered_in_run = sum(c.turns for c in clients)
    return Result(
        server_cpu_ms=(
            None if before is None or after is None else (after - before) / answered_in_run * 1000
        ),
        api=api,
        backend=backend,
        workers=workers,
        clients=args.clients,
        turns_per_s=len(latencies) / args.seconds,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        errors=sum(c.errors for c in clients),
        measured_turns=len(latencies),
    )


def postgres_location(url: str, clients: int) -> tuple[str, str]:
    """``url`` with a fresh schema of the bench's own; and the schema's name.

    Unless the URL sizes the pool, it gets a connection for every client and two more:
    the PostgreSQL store holds a pooled connection for each turn in progress, and with
    fewer connections than concurrent turns in one process its turns stall until the
    pool's 30-second timeout (a known limit of the store, not measured here).
    """
    schema = f"memchat_bench_{secrets.token_hex(4)}"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    if not any(k == "pool_size" for k, _ in query):
        query.append(("pool_size", str(clients + 2)))
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)]))), schema


def drop_postgres_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("schema", "pool_size")]
    with psycopg.connect(urlunsplit(parts._replace(query=urlencode(query))), autocommit=True) as c:
        c.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--workers", default="1,2,8", help="worker counts (default 1,2,8)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time first")
    parser.add_argument("--turns-per-session", type=int, default=20)
    parser.add_argument(
        "--recall-k",
        type=int,
        help="MEMCHAT_RECALL_K for the server (default: memchat's default; 0 turns recall off)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MEMCHAT_BENCH_POSTGRES_URL")
        or os.environ.get("MEMCHAT_TEST_POSTGRES_URL"),
        help="also run on this PostgreSQL server (in a schema of its own, dropped after)",
    )
    parser.add_argument(
        "--api", default="api,v1", help="which APIs: api (/api/), v1 (/v1/), or both (default)"
    )
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(
        f"memchat server bench: {args.clients} clients, {args.seconds:g} s per run after "
        f"{args.warmup:g} s warm-up; {os.cpu_count()} CPUs, Python {platform.python_version()};"
        f" load average {os.getloadavg()}"
    )
    results: list[Result] = []
    failures: list[str] = []

    def attempt(api: str, backend: str, location: str, count: int) -> None:
        try:
            results.append(run_one(api, backend, location, count, args))
        except (BenchFailed, OSError, RuntimeError) as exc:
            failures.append(f"/{api}/, {backend}, {count} worker(s): {exc}")

    for api in args.api.split(","):
        for count in workers:
            with tempfile.TemporaryDirectory(prefix="memchat-bench-") as tmp:
                attempt(api, "sqlite", str(Path(tmp) / "bench.db"), count)
        if args.postgres:
            for count in workers:
                location, schema = postgres_location(args.postgres, args.clients)
                try:
                    attempt(api, "postgres", location, count)
                finally:
                    drop_postgres_schema(args.postgres, schema)
    print("\n| API | backend | workers | turns/s | p50 ms | p99 ms | errors | server CPU ms/turn |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        cpu = "?" if r.server_cpu_ms is None else f"{r.server_cpu_ms:.2f}"
        print(
            f"| /{r.api}/ | {r.backend} | {r.workers} | {r.turns_per_s:,.0f} | {r.p50_ms:.1f} |"
            f" {r.p99_ms:.1f} | {r.errors} | {cpu} |"
        )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    for failure in failures:
        print(f"FAILED {failure}")
    best = max((r.turns_per_s for r in results), default=0.0)
    met = best >= GOAL and not failures
    print(f"\nbest: {best:,.0f} turns/s; goal {GOAL:,.0f}: {'met' if met else 'NOT met'}")
    if args.json:
        print(
            json.dumps(
                {"results": [r.__dict__ for r in results], "failures": failures, "goal_met": met}
            )
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
