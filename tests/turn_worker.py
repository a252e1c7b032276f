"""A separate process that chats: used by tests to prove cross-process behaviour.

usage: python -m tests.turn_worker DB USER SESSION TAG TURNS OUT

DB is a SQLite path or any URL ``open_store`` accepts (``postgresql://...``).

Runs TURNS turns in USER's SESSION with a scripted model that echoes the message, and
writes (as JSON lines to OUT) the model input of every turn, so the test can check that
each turn saw the whole history before it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from agents import Agent
from agents.testing import ModelStep, ScriptedModel, assistant_message

from memchat.chat import Chat
from memchat.store import MemchatSession, open_store


def echo(call):
    last = call.input[-1]["content"] if isinstance(call.input, list) else call.input
    return [assistant_message(f"echo: {last}")]


async def main(db: str, user: str, session_id: str, tag: str, turns: int) -> list[object]:
    """Run the turns; return the model input of each."""
    model = ScriptedModel([ModelStep.respond(echo) for _ in range(turns)])
    chat = Chat(Agent(name="worker", model=model))
    with open_store(db) as store:
        session = MemchatSession(store, store.ensure_session(user, session_id))
        for n in range(turns):
            await chat.run_turn(session, f"{tag}-{n}")
    return [call.input for call in model.calls]


if __name__ == "__main__":
    db, user, session_id, tag, turns, out = sys.argv[1:]
    inputs = asyncio.run(main(db, user, session_id, tag, int(turns)))
    Path(out).write_text("".join(json.dumps(i) + "\n" for i in inputs))
