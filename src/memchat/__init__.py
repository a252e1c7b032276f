"""memchat: a chat agent that remembers, on a turn-atomic store behind the Agents SDK.

from agents import Agent, Runner
from memchat import open_store

store = open_store("memchat.db")
await Runner.run(agent, "My name is Sara", session=store.session("sara"))
"""

from __future__ import annotations

from .chat import Chat
from .errors import MemchatError
from .store import MemchatSession, SQLiteStore, Store, open_store

__all__ = ["Chat", "MemchatError", "MemchatSession", "SQLiteStore", "Store", "open_store"]
