"""memchat: a chat agent that remembers, on a turn-atomic store behind the Agents SDK.

from agents import Agent, Runner
from memchat import open_store

store = open_store("memchat.db")
await Runner.run(agent, "My name is Sara", session=store.session("sara"))

session = memory_session(store, "sara")        # with memchat's memory, within a budget
await Runner.run(agent, "What's my name?", session=session, run_config=session.run_config)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import MemchatError
from .store import SQLiteStore, Store, open_store

if TYPE_CHECKING:
    from .chat import Chat, TurnResult
    from .memory.session import MemorySession, memory_session
    from .store import MemchatSession

# What needs the Agents SDK, and where it lives: imported when first used, since the SDK
# takes about a second to import and the command line's other commands never need it.
_WITH_THE_SDK = {
    "Chat": ".chat",
    "TurnResult": ".chat",
    "MemchatSession": ".store",
    "MemorySession": ".memory.session",
    "memory_session": ".memory.session",
}


def __getattr__(name: str) -> Any:
    if name in _WITH_THE_SDK:
        return getattr(importlib.import_module(_WITH_THE_SDK[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Chat",
    "MemchatError",
    "MemchatSession",
    "MemorySession",
    "SQLiteStore",
    "Store",
    "TurnResult",
    "memory_session",
    "open_store",
]
