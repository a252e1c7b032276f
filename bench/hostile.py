"""Hostile load: slow clients, huge headers, cut-off model streams and killed workers
beside normal streaming turns.

Starts ``memchat serve``'s app (``memchat.server.app:app_from_env``) on 127.0.0.1 over a
fresh SQLite database, with its uvicorn options (``memchat.server.serving``) and
``--workers`` processes, its model an OpenAI-compatible server (``bench/upstream.py``,
another process) that cuts every ``--cut-every``-th answer off halfway. Then for
``--seconds``, all at once:

- ``--slow`` slow clients, each trickling a request's headers a line a second until the
  server drops it, then connecting again;
- ``--big`` clients each sending one header of ``--big-mib`` MiB, one after another;
- ``--clients`` normal users, each sending turns one after another in a session of its
  own and reading every reply's whole event stream;
- every ``--kill-every`` seconds a ``kill -9`` of one server worker, mid-turn (uvicorn
  starts another).

It prints the normal requests and their statuses (5xx counted), turn latency, what the
hostile clients got, the server's memory, and then compares the turns the clients saw
confirmed (a ``done`` event) with what the store holds: a confirmed turn missing is lost,
a message stored twice is duplicated, and a stored reply that is not the model's whole
answer is partial. Exits non-zero if there was a 5xx or a turn lost, duplicated or
partial.

    python bench/hostile.py [--seconds 40] [--slow 200] [--big 4] [--big-mib 64]
        [--clients 50] [--workers 2] [--kill-every 10] [--cut-every 10] [--chunk-ms 5]
        [--read-timeout 10] [--max-connections 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from memchat.store import open_store
from memchat.store.titles import item_text
from server import REPLY, free_port, prepare  # bench/server.py

MiB = 1024 * 1024
HOST = "127.0.0.1"


def serve(port: int, workers: int) -> None:
    """The server process: ``memchat serve``'s app and options, configured by the env."""
    import uvicorn

    from memchat.config import load_settings
    from memchat.server.serving import uvicorn_options

    options = uvicorn_options(load_settings())
    uvicorn.run(
        "memchat.server.app:app_from_env",
        factory=True,
        host=HOST,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        **options,
    )


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def workers_of(pid: int) -> list[int]:
    """The worker processes uvicorn runs under ``pid`` (not multiprocessing's helpers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces: the parent pid is the 2nd field after ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != pid:
                continue
            if b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
    return sorted(found)


def server_rss_mib(pid: int) -> float:
    """The memory of the server: its process and its workers."""
    return rss_mib(pid) + sum(rss_mib(worker) for worker in workers_of(pid))


# -- normal users -------------------------------------------------------------------------


@dataclass
class Stats:
    """What every client saw."""

    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)
    # session id -> the messages whose turn the client saw confirmed
    confirmed: dict[str, list[str]] = field(default_factory=dict)
    slow_held: list[float] = field(default_factory=list)
    slow_still_open: int = 0
    big: list[tuple[float, int, str]] = field(default_factory=list)  # seconds, bytes, answer
    rss_peak: float = 0.0
    # Turns that ended with an error event, by its code (incomplete_answer: a cut stream).
    turn_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    kills: int = 0


async def call(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    token: str,
    payload: object,
) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 request; its status, whole body, and whether the server closes."""
    body = json.dumps(payload).encode()
    writer.write(
        (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()

    async def line_of_it() -> bytes:
        line = await reader.readline()
        if not line.endswith(b"\n"):
            # The worker died (kill -9) or closed the connection mid-answer.
            raise ConnectionResetError("the connection closed mid-answer")
        return line

    status = int((await line_of_it()).split()[1])
    length, chunked, closing = 0, False, False
    while (line := await line_of_it()) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            closing = True
    if not chunked:
        return status, await reader.readexactly(length), closing
    parts = []
    while size := int((await line_of_it()).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await line_of_it()
    return status, b"".join(parts), closing


async def user(port: int, number: int, token: str, until: float, stats: Stats) -> None:
    """Send turns in one session until ``until``, reconnecting whenever the server closes."""
    session = ""
    n = 0
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError as exc:
            stats.failures[f"connect: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.2)
            continue
        try:
            while time.monotonic() < until:
                if not session:
                    status, body, closing = await asyncio.wait_for(
                        call(reader, writer, "POST", "/api/sessions", token, {}), 30
                    )
                    stats.statuses[status] += 1
                    if status == 201:
                        session = json.loads(body)["id"]
                        stats.confirmed[session] = []
                else:
                    n += 1
                    text = f"hostile bench user {number} message {n}"
                    started = time.monotonic()
                    status, body, closing = await asyncio.wait_for(
                        call(
                            reader,
                            writer,
                            "POST",
                            f"/api/sessions/{session}/messages",
                            token,
                            {"text": text},
                        ),
                        30,
                    )
                    stats.statuses[status] += 1
                    if status == 200 and b"event: done" in body:
                        stats.confirmed[session].append(text)
                        stats.latencies.append(time.monotonic() - started)
                    elif status == 200 and b"event: error" in body:
                        error = json.loads(body.rpartition(b"data: ")[2])["error"]
                        stats.turn_errors[error["code"]] += 1
                    elif status == 200:
                        stats.failures["turn without done"] += 1
                if status >= 500:
                    await asyncio.sleep(0.5)  # a refused client backs off a little
                if closing:
                    break
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            stats.failures[f"request: {type(exc).__name__}"] += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# -- hostile clients ----------------------------------------------------------------------


async def slow_client(port: int, until: float, stats: Stats) -> None:
    """Trickle a request's headers, a line a second, as long as the server keeps it."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        opened = time.monotonic()
        try:
            writer.write(b"GET /api/me HTTP/1.1\r\nHost: x\r\n")
            while time.monotonic() < until:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                        break
            else:
                stats.slow_still_open += 1
                return
            stats.slow_held.append(time.monotonic() - opened)
        except OSError:
            stats.slow_held.append(time.monotonic() - opened)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def big_header(port: int, size: int, stats: Stats) -> None:
    """Send one header of ``size`` bytes; record how long and how much before the cut."""
    chunk = b"a" * (256 * 1024)
    sent = 0
    started = time.monotonic()
    answer = "reset"
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Big: ")
        while sent < size:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 30)
            sent += len(chunk)
        writer.write(b"\r\n\r\n")
        await writer.drain()
    except (OSError, TimeoutError):
        pass
    with contextlib.suppress(OSError, TimeoutError):
        line = await asyncio.wait_for(reader.readline(), 5)
        answer = line.decode("latin-1").strip() or "closed"
    stats.big.append((time.monotonic() - started, sent, answer))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def watch_memory(pid: int, until: float, stats: Stats) -> None:
    while time.monotonic() < until:
        stats.rss_peak = max(stats.rss_peak, server_rss_mib(pid))
        await asyncio.sleep(0.2)


async def kill_workers(pid: int, every: float, until: float, stats: Stats) -> None:
    """``kill -9`` a server worker every ``every`` seconds (uvicorn starts another)."""
    n = 0
    while every > 0 and time.monotonic() + every < until:
        await asyncio.sleep(every)
        workers = workers_of(pid)
        if workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(workers[n % len(workers)], signal.SIGKILL)
                stats.kills += 1
            n += 1


async def attack(port: int, pid: int, tokens: list[str], args: argparse.Namespace) -> Stats:
    stats = Stats()
    until = time.monotonic() + args.seconds

    async def bigs() -> None:
        for _ in range(args.big):
            await asyncio.sleep(args.seconds / (args.big + 1))
            await big_header(port, args.big_mib * MiB, stats)

    await asyncio.gather(
        watch_memory(pid, until, stats),
        kill_workers(pid, args.kill_every if args.workers > 1 else 0, until, stats),
        bigs(),
        *(slow_client(port, until, stats) for _ in range(args.slow)),
        *(user(port, i, token, until, stats) for i, token in enumerate(tokens)),
    )
    return stats


# -- the run ------------------------------------------------------------------------------


def stored_messages(location: str) -> tuple[dict[str, list[str]], int]:
    """Every session's user messages as the store holds them, oldest first; and how many
    stored turns have a reply other than the model's whole answer (a part of it, none)."""
    held: dict[str, list[str]] = {}
    partial = 0
    with open_store(location) as store:
        for account in store.list_users():
            for info in store.list_sessions(account.name):
                held[info.id] = []
                for turn in store.get_turns(info):
                    said = [i for i in turn.items if i.get("role") == "user"]
                    replies = [i for i in turn.items if i.get("role") == "assistant"]
                    held[info.id] += [item_text(item) for item in said]
                    if " ".join(item_text(item) for item in replies).strip() != REPLY:
                        partial += 1
    return held, partial


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the attack")
    parser.add_argument("--slow", type=int, default=200, help="slow clients")
    parser.add_argument("--big", type=int, default=4, help="huge headers, one after another")
    parser.add_argument("--big-mib", type=int, default=64, help="size of each huge header")
    parser.add_argument("--clients", type=int, default=50, help="normal streaming users")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--kill-every", type=float, default=10.0, help="seconds between kill -9s of a worker"
    )
    parser.add_argument(
        "--cut-every", type=int, default=10, help="the model cuts every Nth answer off (0: none)"
    )
    parser.add_argument("--chunk-ms", type=float, default=5.0, help="the model's pause a word")
    parser.add_argument("--read-timeout", type=int, default=10, help="MEMCHAT_READ_TIMEOUT")
    parser.add_argument("--max-connections", type=int, default=500, help="MEMCHAT_MAX_CONNECTIONS")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.serve is not None:
        serve(args.serve, args.workers)
        return 0
    port, model_port = free_port(), free_port()
    home = Path(tempfile.mkdtemp(prefix="memchat-hostile-"))
    location = str(home / "hostile.db")
    counts_file = home / "upstream.json"
    try:
        with open_store(location) as store:
            tokens = prepare(store, args.clients)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "OPENAI_"))}
        env |= {
            "MEMCHAT_DB": location,
            "MEMCHAT_HOME": str(home),
            "MEMCHAT_BASE_URL": f"http://{HOST}:{model_port}/v1",
            "MEMCHAT_MODEL": "bench",
            "MEMCHAT_READ_TIMEOUT": str(args.read_timeout),
            "MEMCHAT_MAX_CONNECTIONS": str(args.max_connections),
        }
        upstream = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("upstream.py")),
                str(model_port),
                f"--cut-every={args.cut_every}",
                f"--chunk-ms={args.chunk_ms}",
                f"--counts={counts_file}",
            ]
        )
        # The server's log (a warning for each turn that fails) goes to a file, whose
        # last lines are shown if anything went wrong.
        server_log = (home / "server.log").open("w")
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), f"--workers={args.workers}"],
            env=env,
            cwd=home,
            stderr=server_log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(OSError), socket.create_connection((HOST, port)):
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start ({server.poll()})")
                time.sleep(0.1)
            time.sleep(1.0 + args.workers)
            rss_before = server_rss_mib(server.pid)
            print(
                f"hostile bench: {args.seconds:g} s, {args.slow} slow clients, {args.big} x "
                f"{args.big_mib} MiB headers, {args.clients} streaming users, a model that"
                f" cuts every {args.cut_every or 'no'}th answer off, {args.workers} workers"
                f" and a kill -9 every {args.kill_every:g} s; read timeout"
                f" {args.read_timeout} s, {args.max_connections} connections;"
                f" {os.cpu_count()} CPUs"
            )
            started = time.monotonic()
            stats = asyncio.run(attack(port, server.pid, tokens, args))
            elapsed = time.monotonic() - started
        finally:
            for process in (server, upstream):
                process.terminate()
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            server_log.close()
        held, partial = stored_messages(location)
        model = json.loads(counts_file.read_text()) if counts_file.exists() else {}
        log = (home / "server.log").read_text(errors="replace").splitlines()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    failed = report(stats, held, partial, model, rss_before, elapsed, args)
    cut = [line for line in log if "failed: the model's answer was cut off" in line]
    # What else the attack makes the server say: the huge headers' 400s.
    unexpected = [
        line for line in log if line not in cut and "Invalid HTTP request received" not in line
    ]
    print(f"server log: {len(cut)} turns cut off, {len(unexpected)} unexpected lines")
    if failed or unexpected:
        print("\n".join(unexpected[-20:]))
    return failed


def report(
    stats: Stats,
    held: dict[str, list[str]],
    partial: int,
    model: dict[str, int],
    rss_before: float,
    elapsed: float,
    args: argparse.Namespace,
) -> int:
    confirmed = sum(len(texts) for texts in stats.confirmed.values())
    lost = sum(
        1
        for session, texts in stats.confirmed.items()
        for text in texts
        if text not in held.get(session, [])
    )
    duplicated = sum(
        count - 1
        for texts in held.values()
        for count in collections.Counter(texts).values()
        if count > 1
    )
    unconfirmed = sum(
        1
        for session, texts in held.items()
        for text in set(texts)
        if text not in stats.confirmed.get(session, [])
    )
    requests = sum(stats.statuses.values())
    errors_5xx = sum(n for status, n in stats.statuses.items() if status >= 500)
    latencies = sorted(stats.latencies)

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
        )

    held_times = sorted(stats.slow_held)
    print(f"\nnormal requests: {requests:,} in {elapsed:.1f} s, by status {dict(stats.statuses)}")
    print(f"5xx: {errors_5xx}; client-side failures: {dict(stats.failures) or 'none'}")
    print(
        f"turns confirmed: {confirmed:,} ({confirmed / elapsed:.0f}/s), "
        f"latency p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms, max {pct(1.0):.0f} ms"
    )
    print(
        f"slow connections dropped by the server: {len(held_times):,}, after "
        f"{held_times[0] if held_times else 0:.1f}-{held_times[-1] if held_times else 0:.1f} s"
        f" (read timeout {args.read_timeout} s); still trickling at the end: "
        f"{stats.slow_still_open}"
    )
    for seconds, sent, answer in stats.big:
        print(f"huge header: cut after {sent / MiB:.1f} MiB sent, {seconds:.2f} s, got {answer!r}")
    print(
        f"model: {model.get('streams', '?')} answers streamed, {model.get('cut', '?')} of them"
        f" cut off; turns that failed: {dict(stats.turn_errors) or 'none'}"
    )
    print(f"workers killed (kill -9): {stats.kills}")
    print(f"server memory: {rss_before:.0f} MiB before, peak {stats.rss_peak:.0f} MiB")
    print(
        f"store: confirmed turns lost {lost}, duplicated {duplicated}, partial replies"
        f" stored {partial}; stored but not confirmed {unconfirmed}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "requests": requests,
                    "statuses": dict(stats.statuses),
                    "errors_5xx": errors_5xx,
                    "confirmed": confirmed,
                    "lost": lost,
                    "duplicated": duplicated,
                    "partial": partial,
                    "unconfirmed": unconfirmed,
                    "model": model,
                    "turn_errors": dict(stats.turn_errors),
                    "kills": stats.kills,
                    "p50_ms": pct(0.5),
                    "p99_ms": pct(0.99),
                    "slow_dropped": len(held_times),
                    "slow_still_open": stats.slow_still_open,
                    "big": stats.big,
                    "rss_before_mib": rss_before,
                    "rss_peak_mib": stats.rss_peak,
                }
            )
        )
    return 1 if errors_5xx or lost or duplicated or partial else 0


if __name__ == "__main__":
    sys.exit(main())
