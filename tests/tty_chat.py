"""``memchat`` in a real terminal with a scripted model that streams slowly.

usage: python -m tests.tty_chat [memchat arguments...]

The terminal tests (tests/test_terminal.py) run it in tmux. Every reply waits
FIRST_TOKEN_DELAY seconds before its first word (as a local model reads its prompt), then
streams REPLY a word at a time, WORD_DELAY seconds apart.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator

from agents.items import TResponseStreamEvent
from agents.testing import ModelStep, ScriptedModel, assistant_message
from agents.testing.model import ModelCall, _stream_events_for_step

from memchat.cli import cli
from memchat.cli.app import App
from memchat.models import ModelChoice

FIRST_TOKEN_DELAY = 1.5
WORD_DELAY = 0.05
FIRST_LINE = "First line of the reply."
REPLY = f"{FIRST_LINE}\n\nThen " + " ".join(f"word{i}" for i in range(200)) + " end."


def slow_reply(text: str) -> ModelStep:
    """A scripted step that streams ``text`` a word at a time, after a pause."""

    async def events(call: ModelCall) -> AsyncIterator[TResponseStreamEvent]:
        await asyncio.sleep(FIRST_TOKEN_DELAY)
        step = ModelStep(output=[assistant_message(text)])
        for event in _stream_events_for_step(step, preserve_raw_usage=False):
            if event.type != "response.output_text.delta":
                yield event
                continue
            for word in re.findall(r"\S+\s*", event.delta):
                yield event.model_copy(update={"delta": word})
                await asyncio.sleep(WORD_DELAY)

    return ModelStep.stream(events, output=[assistant_message(text)])


def main() -> None:
    model = ScriptedModel([slow_reply(REPLY) for _ in range(20)])
    app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
    cli.main(sys.argv[1:], obj=app, prog_name="memchat")


if __name__ == "__main__":
    main()
