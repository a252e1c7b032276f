"""memchat: a chat agent that remembers, on a turn-atomic store behind the Agents SDK.

from agents import Agent, Runner
from memchat import open_store

store = open_store("memchat.db")
await Runner.run(agent, "My name is Sara", session=store.session("sara"))

session = memory_session(store, "sara")        # with memchat's memory, within a budget
await Runner.run(agent, "What's my name?", session=session, run_config=session.run_config)
"""

from __future__ import annotations

from .chat import Chat
from .errors import MemchatError
from .memory.session import MemorySession, memory_session
from .store import MemchatSession, SQLiteStore, Store, open_store

__all__ = [
    "Chat",
    "MemchatError",
    "MemchatSession",
    "MemorySession",
    "SQLiteStore",
    "Store",
    "memory_session",
    "open_store",
]
