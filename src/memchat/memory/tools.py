"""Memory tools: a model that can call tools remembers, forgets and searches by itself.

Rule-based facts (``facts.py``) catch "my name is Sara"; a capable model also hears "I'm
allergic to peanuts" or "forget where I live". These tools let it act on that: remember a
fact, forget one, search the user's earlier conversations. Each turn's tools work on a
:class:`TurnMemory` for its user; what they change is held there and applied by
:class:`memchat.chat.Chat` only once the turn is stored, so a turn that fails changes no
memory either (as it stores no messages).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

from agents import FunctionTool, RunContextWrapper, function_tool

from ..errors import FactNotFound, MemchatError, QuotaExceeded
from ..store import SessionInfo, Store
from .facts import MAX_VALUE_CHARS, MemoryChanges, normalize_key
from .factsheet import facts_in_view, visible_facts
from .forget import forget_fact

SEARCH_HITS = 5


@dataclass
class TurnMemory:
    """One turn's view of its user's memory, and the changes its tools asked for."""

    store: Store
    user: str
    # The one session search_history may look in (MEMCHAT_CROSS_SESSION=false), or None.
    session_id: str | None = None
    remembered: dict[str, str] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)
    # The scoped project whose memory the turn's session keeps to (None: the user's own):
    # its facts and the user-wide ones are known, and search_history looks in it only.
    project: str | None = None

    def facts(self) -> dict[str, str]:
        """The facts the session sees, as they will be once this turn's changes apply."""
        seen = visible_facts(self.store, self.user, self.project)
        known = {fact.key: fact.value for fact in seen}
        for key in self.forgotten:
            known.pop(key, None)
        return known | self.remembered

    def apply(self, session: SessionInfo, seq: int) -> MemoryChanges:
        """Make the changes (after turn ``seq`` of ``session`` is stored: the facts name
        its user message as their source); return them."""
        source = f"tool: {session.id}#{seq}"
        forgotten = []
        keys = self.forgotten - self.remembered.keys()
        # Every fact of the key the session sees: its project's and the user-wide one.
        for fact in facts_in_view(self.store, self.user, self.project) if keys else []:
            if fact.key not in keys:
                continue
            # It may have gone meanwhile (another turn, `memchat memory forget`).
            with suppress(FactNotFound):
                forget_fact(self.store, self.user, fact.key, project=fact.project)
                forgotten.append(fact.key)
        forgotten = sorted(set(forgotten))
        remembered = []
        # Learned where it was said: in the session's project if that is scoped.
        for key, value in self.remembered.items():
            # A new fact over the user's cap (MEMCHAT_MAX_FACTS) is not kept; the turn is.
            with suppress(QuotaExceeded):
                self.store.set_fact(self.user, key, value, source, taught_by=(session, seq))
                remembered.append((key, value))
        return MemoryChanges(tuple(remembered), tuple(forgotten))


@function_tool
def remember(context: RunContextWrapper[TurnMemory], key: str, value: str) -> str:
    """Remember a lasting fact the user told you about themselves, for every later chat.

    Args:
        key: What the fact is about, in a few words ("name", "allergy", "daughter").
        value: The fact ("Sara", "peanuts", "Emma, 6").
    """
    memory = context.context
    key = normalize_key(key)
    value = " ".join(value.split())
    if not key or not value:
        return "Nothing remembered: both a key and a value are needed."
    if len(value) > MAX_VALUE_CHARS:
        return f"Nothing remembered: keep the value under {MAX_VALUE_CHARS} characters."
    memory.forgotten.discard(key)
    memory.remembered[key] = value
    return f"Remembered {key}: {value}."


@function_tool
def forget(context: RunContextWrapper[TurnMemory], key: str) -> str:
    """Forget a fact about the user, when they ask you to forget it.

    Args:
        key: The fact's key, as listed in what you know about the user.
    """
    memory = context.context
    key = normalize_key(key)
    facts = memory.facts()
    if key not in facts:
        known = ", ".join(sorted(facts)) or "none"
        return f"There is no fact {key!r} to forget (known: {known})."
    memory.remembered.pop(key, None)
    memory.forgotten.add(key)
    return f"Forgot {key}."


@function_tool
def search_history(context: RunContextWrapper[TurnMemory], query: str) -> str:
    """Search the user's earlier conversations (all of them) for messages with these words.

    Args:
        query: Plain words to look for.
    """
    memory = context.context
    try:
        hits = memory.store.search(
            memory.user,
            query,
            limit=SEARCH_HITS,
            session_id=memory.session_id,
            project=memory.project,
            shared_only=memory.project is None,
        )
    except MemchatError as exc:
        return f"Search is not available: {exc}."
    if not hits:
        return "No earlier message matches."
    return "\n".join(f"[{hit.created_at[:10]}] {hit.role}: {hit.snippet}" for hit in hits)


MEMORY_TOOLS: list[FunctionTool] = [remember, forget, search_history]
