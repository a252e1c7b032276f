"""The HTTP server under test: an app over a fresh store and a scripted model."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from agents.testing import ModelStep, ScriptedModel
from fastapi import FastAPI
from fastapi.testclient import TestClient

from memchat.config import Settings, load_settings
from memchat.models import ModelChoice
from memchat.server import create_app
from memchat.store import Store

from .helpers import reply


class EndlessModel(ScriptedModel):
    """A ScriptedModel that answers ``default`` whenever its script runs out (for fuzzing)."""

    def __init__(self, default: str = "ok") -> None:
        super().__init__()
        self.default = default

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if not self.remaining_steps:
            self.enqueue(reply(self.default))
        async for event in super().stream_response(*args, **kwargs):
            yield event

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        if not self.remaining_steps:
            self.enqueue(reply(self.default))
        return await super().get_response(*args, **kwargs)


class Gate:
    """A scripted reply that streams its first piece and then waits to be let through.

    ``reached`` is set once the first piece is out; ``aborted`` if the stream was closed
    before the end (the client left, or the turn was cancelled).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.open = threading.Event()
        self.reached = threading.Event()
        self.aborted = threading.Event()

    def step(self) -> ModelStep:
        return ModelStep.stream(self._events)

    async def _events(self, call: Any) -> AsyncIterator[Any]:
        inner = ScriptedModel([reply(self.text)])
        finished = False
        try:
            async for event in inner.stream_response(
                call.system_instructions,
                call.input,
                call.model_settings,
                call.tools,
                call.output_schema,
                call.handoffs,
                call.tracing,
                previous_response_id=None,
                conversation_id=None,
                prompt=None,
            ):
                yield event
                if event.type == "response.output_text.delta":
                    self.reached.set()
                    # Polled: the test opens the gate from its own thread, outside this loop.
                    while not self.open.is_set():  # noqa: ASYNC110
                        await asyncio.sleep(0.005)
            finished = True
        finally:
            if not finished:
                self.aborted.set()


def scripted_app(
    store: Store, model: ScriptedModel, settings: Settings | None = None, **options: Any
) -> FastAPI:
    """The memchat app over ``store``, answering with ``model``."""
    return create_app(
        settings or load_settings(),
        store=store,
        model_factory=lambda _: ModelChoice(model, "scripted", "test"),
        **options,
    )


def add_user(store: Store, name: str, *, admin: bool = False) -> dict[str, str]:
    """Create a user with a token; return the headers that authenticate as them."""
    store.ensure_user(name)
    if admin:
        store.set_admin(name, True)
    return {"Authorization": f"Bearer {store.create_token(name)}"}


def client(app: FastAPI) -> TestClient:
    # Server errors come back as responses, so tests can assert there are none.
    return TestClient(app, raise_server_exceptions=False)


def sse_events(body: str) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a server-sent event stream."""
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
        events.append((name, data))
    return events


class LiveServer:
    """The app on a real socket on 127.0.0.1, served by uvicorn in a thread.

    ``options`` are uvicorn's (``serving.uvicorn_options(settings)`` for ``memchat serve``'s).
    """

    def __init__(self, app: FastAPI, **options: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        defaults: dict[str, Any] = {"log_level": "warning", "ws": "none", "http": "h11"}
        config = uvicorn.Config(app, lifespan="on", **(defaults | options))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def iter_sse(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs from the lines of a streaming response, as they arrive."""
    name, data = "message", None
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = json.loads(line.removeprefix("data: "))
        elif not line and data is not None:
            yield name, data
            name, data = "message", None
