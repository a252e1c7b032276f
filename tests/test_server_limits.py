"""Hostile clients against the real server, run as ``memchat serve`` runs it (serving.py).

Each test starts uvicorn with the options ``memchat serve`` passes, with small limits so
that the test is quick: huge headers are cut off, slow clients are dropped within the
read timeout, connections over the cap get a 503, and the access log keeps no queries.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.testing import ScriptedModel
from click.testing import CliRunner

from memchat.cli import cli
from memchat.cli.app import App
from memchat.config import Settings, load_settings
from memchat.models import ModelChoice
from memchat.server.serving import uvicorn_options
from memchat.store import Store

from .server_harness import EndlessModel, LiveServer, add_user, scripted_app, wait_for

MiB = 1024 * 1024


def limits(**values: Any) -> Settings:
    """The settings with small limits (and any of them changed)."""
    small = {"max_header_bytes": 4096, "read_timeout": 1, "keep_alive": 1, "max_connections": 4}
    return load_settings().with_overrides(**(small | values))


@contextmanager
def serving(store: Store, settings: Settings, **options: Any) -> Iterator[LiveServer]:
    """The app over ``store`` under uvicorn as ``memchat serve`` configures it."""
    # log_config=None: uvicorn's own logging setup would outlive the test (the access log
    # test sets it up and restores it).
    chosen = uvicorn_options(settings) | {"log_config": None} | options
    with LiveServer(scripted_app(store, EndlessModel(), settings), **chosen) as live:
        yield live


def test_memchat_serve_runs_uvicorn_with_the_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **options: ran.update(options))
    monkeypatch.setenv("MEMCHAT_MAX_CONNECTIONS", "7")
    # serve hands the database to its workers in the environment: undone after the test.
    monkeypatch.setenv("MEMCHAT_DB", str(tmp_path / "memchat.db"))
    app = App(model_factory=lambda _: ModelChoice(ScriptedModel(), "scripted", "test"))
    result = CliRunner().invoke(cli, ["serve"], obj=app)
    assert result.exit_code == 0, result.output
    expected = uvicorn_options(load_settings())
    assert ran["http"].func is expected["http"].func
    assert ran["http"].keywords == {"header_timeout": 30}
    assert ran["h11_max_incomplete_event_size"] == 16 * 1024
    assert ran["limit_concurrency"] == 8
    assert ran["timeout_keep_alive"] == 5
    assert ran["log_config"]["loggers"]["uvicorn.access"]["filters"] == ["queryless"]
    assert "7 connections per worker" in result.output


def connect(live: LiveServer) -> socket.socket:
    host, port = live.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def rss_bytes() -> int:
    """This process's resident memory (the server runs in it, in a thread)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def closed_after(sock: socket.socket, trickle: bytes | None, limit: float) -> float | None:
    """Seconds until the server closes ``sock`` (sending ``trickle`` every 0.1 s meanwhile);
    None if it is still open after ``limit`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if trickle is not None:
            try:
                sock.sendall(trickle)
            except OSError:
                return time.monotonic() - start
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            try:
                data = sock.recv(65536)
            except OSError:
                return time.monotonic() - start
            if not data:
                return time.monotonic() - start
    return None


def test_a_huge_header_is_cut_off_without_reading_it(store: Store) -> None:
    header = 64 * MiB
    chunk = b"a" * (256 * 1024)
    with serving(store, limits()) as live, closing(connect(live)) as sock:
        before = rss_bytes()
        sock.sendall(b"GET /api/me HTTP/1.1\r\nHost: test\r\nX-Big: ")
        sent = 0
        try:
            while sent < header:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection: what the test wants
        grown = rss_bytes() - before
        try:
            answer = sock.recv(200)
        except OSError:
            answer = b""
    # The server stopped reading at the limit: what was sent before the connection broke
    # is what the kernel's socket buffers took, not the 64 MiB.
    assert sent < 16 * MiB, f"the server read {sent / MiB:.0f} MiB of one header"
    assert grown < 16 * MiB, f"the server grew by {grown / MiB:.0f} MiB"
    assert answer == b"" or answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))


def test_headers_within_the_limit_pass(store: Store) -> None:
    headers = add_user(store, "sara") | {"X-Padding": "p" * 3000}
    with serving(store, limits()) as live:
        assert httpx.get(f"{live.url}/api/me", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("opening", "trickle"),
    [
        pytest.param(b"", None, id="silent"),
        pytest.param(b"GET /api/me HTTP/1.1\r\nHost: test\r\n", b"X-Slow: 1\r\n", id="headers"),
        pytest.param(
            b"POST /api/sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n",
            b" ",
            id="body",
        ),
    ],
)
def test_a_slow_client_is_dropped_within_the_read_timeout(
    store: Store, opening: bytes, trickle: bytes | None
) -> None:
    with serving(store, limits(read_timeout=1)) as live, closing(connect(live)) as sock:
        sock.sendall(opening)
        took = closed_after(sock, trickle, limit=6)
    assert took is not None, "the server still held the slow connection after 6 s"
    assert 0.8 <= took < 3


def test_a_slow_body_gets_a_408(store: Store) -> None:
    with serving(store, limits(read_timeout=1)) as live, closing(connect(live)) as sock:
        sock.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n{")
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 408")


def test_an_idle_connection_is_closed_after_the_keep_alive(store: Store) -> None:
    headers = add_user(store, "sara")
    token = headers["Authorization"].encode()
    request = b"GET /api/me HTTP/1.1\r\nHost: test\r\nAuthorization: " + token + b"\r\n\r\n"
    with (
        serving(store, limits(keep_alive=1, read_timeout=30)) as live,
        closing(connect(live)) as sock,
    ):
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        took = closed_after(sock, None, limit=6)
    assert took is not None and took < 3


def test_connections_over_the_cap_get_a_503_and_the_rest_still_work(store: Store) -> None:
    headers = add_user(store, "sara")
    with serving(store, limits(max_connections=4, read_timeout=30)) as live:
        state = live.server.server_state

        def me() -> int:
            # A fresh connection each time.
            return httpx.get(f"{live.url}/api/me", headers=headers, timeout=5).status_code

        idle = [connect(live) for _ in range(3)]
        try:
            assert wait_for(lambda: len(state.connections) == 3)
            assert me() == 200  # the fourth connection: within the cap
            idle.append(connect(live))
            assert wait_for(lambda: len(state.connections) == 4)
            assert me() == 503  # a fifth
            idle.pop().close()
            assert wait_for(lambda: len(state.connections) == 3)
            assert me() == 200
        finally:
            for sock in idle:
                sock.close()


@pytest.fixture
def uvicorn_logging() -> Iterator[None]:
    """Restore uvicorn's loggers after a test that lets uvicorn configure them."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.handlers[:], lg.filters[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (handlers, filters, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:], lg.filters[:], lg.level, lg.propagate = handlers, filters, level, propagate


class Lines(logging.Handler):
    """Collects formatted log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("log_query", [False, True])
def test_the_access_log_keeps_no_query_string(
    store: Store, uvicorn_logging: None, log_query: bool
) -> None:
    headers = add_user(store, "sara")
    lines = Lines()
    settings = limits(log_query=log_query)
    with serving(
        store, settings, log_config=uvicorn_options(settings)["log_config"], log_level="info"
    ) as live:
        logging.getLogger("uvicorn.access").addHandler(lines)
        got = httpx.get(f"{live.url}/api/search?q=secretword&limit=5", headers=headers)
        assert got.status_code == 200
        assert httpx.get(f"{live.url}/api/me?token=t0ken", headers=headers).status_code == 422
        assert wait_for(lambda: len(lines.lines) == 2)
    assert "GET /api/search HTTP/1.1" in lines.lines[0] or log_query, lines.lines
    assert "GET /api/me HTTP/1.1" in lines.lines[1] or log_query, lines.lines
    shown = "\n".join(lines.lines)
    assert ("secretword" in shown, "t0ken" in shown) == (log_query, log_query)
