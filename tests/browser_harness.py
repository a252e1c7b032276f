"""What the browser tests share: Debian's Chromium under Playwright, logging in, and a
scripted reply that streams in pieces and can be held before or after its first one."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ModelStep, ScriptedModel
from openai.types.responses import (
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Screens of the page, kept as test artifacts (gitignored).
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="no Chromium at /usr/bin/chromium: run `make browser` (apt-get install chromium)",
)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_page(sync_api: Any, **context: Any) -> Iterator[Any]:
    """A fresh page in headless Chromium (``context``: Playwright's context options)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser.new_context(**context).new_page()
        finally:
            browser.close()


def log_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.click("text=Log in")
    page.wait_for_selector("#chat:not([hidden])")


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


class Pieces:
    """A scripted reply streamed as ``parts``, one delta each. Unless ``started``, nothing
    streams until ``start`` is set (the page shows "Thinking…" meanwhile); after the first
    piece it waits for ``rest``. ``aborted`` is set if the stream was closed before its end.
    """

    def __init__(self, *parts: str, started: bool = True) -> None:
        self.parts = parts
        self.start = threading.Event()
        self.rest = threading.Event()
        self.aborted = threading.Event()
        if started:
            self.start.set()

    def step(self) -> ModelStep:
        return ModelStep.stream(self._events)

    async def _events(self, call: Any) -> AsyncIterator[Any]:
        content: list[ResponseOutputText | ResponseOutputRefusal] = [
            ResponseOutputText(text=part, type="output_text", annotations=[], logprobs=[])
            for part in self.parts
        ]
        message = ResponseOutputMessage(
            id="pieces", type="message", role="assistant", status="completed", content=content
        )
        inner = ScriptedModel([[message]])
        finished = False
        try:
            await _until(self.start)
            pieces = 0
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
                    pieces += 1
                    if pieces == 1:
                        await _until(self.rest)
            finished = True
        finally:
            if not finished:
                self.aborted.set()


async def _until(flag: threading.Event) -> None:
    # Polled: the test sets the flag from its own thread, outside this loop.
    while not flag.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
