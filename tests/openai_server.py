"""A scripted OpenAI-compatible chat completions server on 127.0.0.1, for HTTP-level tests.

Each ``POST /v1/chat/completions`` gets the next scripted answer: raw bytes, written as
they are, so a test can send what a broken upstream or proxy sends (a stream that stops
early, an empty body, an HTML page). The connection closes after each answer, which ends
the body without an error: what a client sees when a proxy cuts a stream off cleanly.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP answer."""

    body: bytes
    content_type: str = "text/event-stream"
    status: int = 200
    # Send nothing at all, until the server is closed: a server that never answers.
    hang: bool = False


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    data = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(data)}\n\n".encode()


def _words(text: str) -> list[bytes]:
    return [_chunk({"content": word}) for word in re.findall(r"\S+\s*", text)]


def complete(text: str, *, done: bool = True) -> Answer:
    """A whole streamed answer: the words, a finish_reason, then ``[DONE]`` (if ``done``)."""
    body = _chunk({"role": "assistant", "content": ""}) + b"".join(_words(text))
    body += _chunk({}, finish_reason="stop")
    return Answer(body + b"data: [DONE]\n\n" if done else body)


def cut_off(text: str) -> Answer:
    """The words of an answer, then the end of the stream: no finish_reason, no ``[DONE]``."""
    return Answer(_chunk({"role": "assistant", "content": ""}) + b"".join(_words(text)))


def empty_stream() -> Answer:
    """A 200 event stream with nothing in it."""
    return Answer(b"")


def hang() -> Answer:
    """No answer: the request is read, and then nothing is sent until the server closes."""
    return Answer(b"", hang=True)


def server_error() -> Answer:
    """A 500 with an OpenAI-style JSON error."""
    body = json.dumps({"error": {"message": "upstream exploded", "type": "server_error"}})
    return Answer(body.encode(), "application/json", 500)


def not_json() -> Answer:
    """A 200 whose body is an HTML error page, as some proxies send."""
    return Answer(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", "text/html")


class OpenAIServer:
    """The scripted server, run in a thread; ``url`` is its ``/v1`` base URL."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        # The JSON body of every request, in order.
        self.requests: list[dict[str, Any]] = []
        # Set when the server closes: hanging answers end then.
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                server.requests.append(json.loads(self.rfile.read(length)))
                answer = server.answers.pop(0) if server.answers else not_json()
                if answer.hang:
                    server.closing.wait(60)
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
