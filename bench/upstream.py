"""A scripted OpenAI-compatible model server for the benches, that cuts some answers off.

``POST /v1/chat/completions`` streams ``REPLY`` (bench/server.py's) a word per chunk,
then a ``finish_reason`` and ``[DONE]``; every ``cut_every``-th streamed answer stops
halfway instead and the connection closes, as when a proxy or a crashed model server cuts
a stream cleanly. A request without ``"stream": true`` (a summary) gets the whole reply as
one JSON completion. Each answer closes its connection. asyncio, one process: run it as
``python bench/upstream.py PORT [--cut-every N] [--chunk-ms MS] [--counts FILE]``; on
SIGTERM it writes how many answers it gave and cut to ``--counts`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
from pathlib import Path

from server import REPLY  # bench/server.py

HOST = "127.0.0.1"


def _chunk(delta: dict[str, str], finish_reason: str | None = None) -> bytes:
    data = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(data)}\n\n".encode()


WORDS = [_chunk({"content": word}) for word in re.findall(r"\S+\s*", REPLY)]
WHOLE = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


class Upstream:
    """The server's state: what it was asked and what it cut."""

    def __init__(self, cut_every: int, chunk_seconds: float) -> None:
        self.cut_every = cut_every
        self.chunk_seconds = chunk_seconds
        self.streams = 0
        self.cut = 0
        self.whole = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._answer(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass  # the memchat worker went away (killed, or it gave up)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the request line: any POST gets an answer
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        request = json.loads(await reader.readexactly(length))
        if not request.get("stream"):
            self.whole += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(WHOLE)}\r\nConnection: close\r\n\r\n".encode()
                + WHOLE
            )
            await writer.drain()
            return
        self.streams += 1
        cut = self.cut_every > 0 and self.streams % self.cut_every == 0
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            + _chunk({"role": "assistant", "content": ""})
        )
        for word in WORDS[: len(WORDS) // 2] if cut else WORDS:
            writer.write(word)
            await writer.drain()
            if self.chunk_seconds:
                await asyncio.sleep(self.chunk_seconds)
        if cut:
            self.cut += 1
            return  # the connection closes: a stream without its end
        writer.write(_chunk({}, finish_reason="stop") + b"data: [DONE]\n\n")
        await writer.drain()

    def counts(self) -> dict[str, int]:
        return {"streams": self.streams, "cut": self.cut, "whole": self.whole}


async def serve(port: int, upstream: Upstream) -> None:
    server = await asyncio.start_server(upstream.handle, HOST, port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--cut-every", type=int, default=10, help="cut every Nth stream (0: none)")
    parser.add_argument("--chunk-ms", type=float, default=0.0, help="pause after each word")
    parser.add_argument("--counts", type=Path, help="write the counts here on SIGTERM")
    args = parser.parse_args()
    upstream = Upstream(args.cut_every, args.chunk_ms / 1000)
    asyncio.run(serve(args.port, upstream))
    if args.counts is not None:
        args.counts.write_text(json.dumps(upstream.counts()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
