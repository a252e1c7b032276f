"""Hostile load: slow clients and huge headers beside normal streaming turns.

Starts the server on 127.0.0.1 over a fresh SQLite database, with the uvicorn options
``memchat serve`` uses (``memchat.server.serving``) and the scripted model of
``bench/server.py``, then for ``--seconds``, all at once:

- ``--slow`` slow clients, each trickling a request's headers a line a second until the
  server drops it, then connecting again;
- ``--big`` clients each sending one header of ``--big-mib`` MiB, one after another;
- ``--clients`` normal users, each sending turns one after another in a session of its
  own and reading every reply's whole event stream.

It prints the normal requests and their statuses (5xx counted), turn latency, what the
hostile clients got, the server's memory, and then compares the turns the clients saw
confirmed (a ``done`` event) with what the store holds: a confirmed turn missing is lost,
a message stored twice is duplicated. Exits non-zero if any turn was lost or duplicated.

    python bench/hostile.py [--seconds 30] [--slow 200] [--big 4] [--big-mib 64]
        [--clients 50] [--read-timeout 10] [--max-connections 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from memchat.store import open_store
from memchat.store.titles import item_text
from server import BENCH_DIR, free_port, prepare  # bench/server.py

MiB = 1024 * 1024
HOST = "127.0.0.1"


def serve(port: int) -> None:
    """The server process: memchat's app and bench model under ``memchat serve``'s options."""
    import uvicorn

    from memchat.config import load_settings
    from memchat.server.serving import uvicorn_options

    options = uvicorn_options(load_settings())
    uvicorn.run(
        "server:bench_app",
        factory=True,
        app_dir=str(BENCH_DIR),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        **options,
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
    status = int((await reader.readline()).split()[1])
    length, chunked, closing = 0, False, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
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
    while size := int((await reader.readline()).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readline()
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
        stats.rss_peak = max(stats.rss_peak, rss_mib(pid))
        await asyncio.sleep(0.2)


async def attack(port: int, pid: int, tokens: list[str], args: argparse.Namespace) -> Stats:
    stats = Stats()
    until = time.monotonic() + args.seconds

    async def bigs() -> None:
        for _ in range(args.big):
            await asyncio.sleep(args.seconds / (args.big + 1))
            await big_header(port, args.big_mib * MiB, stats)

    await asyncio.gather(
        watch_memory(pid, until, stats),
        bigs(),
        *(slow_client(port, until, stats) for _ in range(args.slow)),
        *(user(port, i, token, until, stats) for i, token in enumerate(tokens)),
    )
    return stats


# -- the run ------------------------------------------------------------------------------


def stored_messages(location: str) -> dict[str, list[str]]:
    """Every session's user messages as the store holds them, oldest first."""
    held: dict[str, list[str]] = {}
    with open_store(location) as store:
        for account in store.list_users():
            for info in store.list_sessions(account.name):
                held[info.id] = [
                    item_text(item)
                    for turn in store.get_turns(info)
                    for item in turn.items
                    if item.get("role") == "user"
                ]
    return held


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the attack")
    parser.add_argument("--slow", type=int, default=200, help="slow clients")
    parser.add_argument("--big", type=int, default=4, help="huge headers, one after another")
    parser.add_argument("--big-mib", type=int, default=64, help="size of each huge header")
    parser.add_argument("--clients", type=int, default=50, help="normal streaming users")
    parser.add_argument("--read-timeout", type=int, default=10, help="MEMCHAT_READ_TIMEOUT")
    parser.add_argument("--max-connections", type=int, default=500, help="MEMCHAT_MAX_CONNECTIONS")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="memchat-hostile-"))
    location = str(home / "hostile.db")
    try:
        with open_store(location) as store:
            tokens = prepare(store, args.clients)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "OPENAI_"))}
        env |= {
            "MEMCHAT_DB": location,
            "MEMCHAT_HOME": str(home),
            "MEMCHAT_READ_TIMEOUT": str(args.read_timeout),
            "MEMCHAT_MAX_CONNECTIONS": str(args.max_connections),
        }
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)], env=env, cwd=home
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(OSError), socket.create_connection((HOST, port)):
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start ({server.poll()})")
                time.sleep(0.1)
            time.sleep(1.0)
            rss_before = rss_mib(server.pid)
            print(
                f"hostile bench: {args.seconds:g} s, {args.slow} slow clients, {args.big} x "
                f"{args.big_mib} MiB headers, {args.clients} streaming users; read timeout "
                f"{args.read_timeout} s, {args.max_connections} connections; {os.cpu_count()} CPUs"
            )
            started = time.monotonic()
            stats = asyncio.run(attack(port, server.pid, tokens, args))
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        held = stored_messages(location)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return report(stats, held, rss_before, elapsed, args)


def report(
    stats: Stats,
    held: dict[str, list[str]],
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
    print(f"server memory: {rss_before:.0f} MiB before, peak {stats.rss_peak:.0f} MiB")
    print(
        f"store: confirmed turns lost {lost}, duplicated {duplicated}, "
        f"stored but not confirmed {unconfirmed}"
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
    return 1 if lost or duplicated else 0


if __name__ == "__main__":
    sys.exit(main())
