"""memchat's memory on the SDK's own path: plain ``Runner.run`` with a memchat session.

    session = memory_session(store, "sara")
    result = await Runner.run(agent, text, session=session, run_config=session.run_config)

A :class:`MemorySession` is a :class:`MemchatSession` (turns stored as on the plain path)
whose runs are given memchat's budgeted context (``Memory.assemble``: facts, summary,
recent turns, earlier messages) instead of every stored item. It works through the SDK's
own extension points, never by patching it:

* ``get_items``: when a run starts, the session returns the context for the history. It
  does not know the new message yet, so this context has no recall for it (facts, the
  summary, the recent turns and, when they fit, all earlier messages), and the message
  has the budget's margin to itself. That alone keeps every run within the budget.
* ``run_config`` (``RunConfig.session_input_callback``): the SDK hands the callback the
  history and the new input, so the context is built again for the message itself, with
  what recall finds for it, and the message counted in the budget.

The SDK stores whatever the callback returns beyond the history as new input; the
session keeps memory's own items out of the store (only the run's input is stored).
A resumed run (after an approval) gets the same context back from the SDK's run state.
The facts a message states are learned once its turn is stored.
"""

from __future__ import annotations

import weakref
from contextvars import ContextVar
from typing import Any

from agents import RunConfig, RunContextWrapper
from agents.memory.session_settings import SessionSettings, resolve_session_limit

from ..store import Item, MemchatSession, SessionInfo, Store
from ..store.base import is_user_message
from .context import AssembledContext, Memory, store_recall
from .facts import MemoryChanges
from .summarize import ExtractiveSummarizer, Summarizer
from .tokens import TokenCounter, estimate_tokens

# The run whose history ``get_items`` just returned, for the input callback that the SDK
# calls next in the same task (the callback is not given the run's context wrapper).
_starting: ContextVar[tuple[MemorySession, weakref.ref[RunContextWrapper[Any]]] | None] = (
    ContextVar("memchat_memory_run", default=None)
)


class MemorySession(MemchatSession):
    """A memchat session whose runs see memchat's memory, within a token budget."""

    def __init__(
        self,
        store: Store,
        info: SessionInfo,
        memory: Memory,
        *,
        instructions: str = "",
        session_settings: SessionSettings | None = None,
    ) -> None:
        super().__init__(store, info, session_settings)
        self.memory = memory
        # The agent's instructions, so that they count against the budget.
        self.instructions = instructions
        # The context of the last run, part by part (what ``/context`` shows in the chat).
        self.last_context: AssembledContext | None = None
        # What the last stored message changed in the user's facts.
        self.last_changes = MemoryChanges()
        # Runs whose input callback added memory's items: how many of the items the SDK
        # stores for them first are the run's own input.
        self._inputs: weakref.WeakKeyDictionary[RunContextWrapper[Any], int] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def run_config(self) -> RunConfig:
        """A RunConfig that gives each run the context built for its message.

        With a RunConfig of your own: ``RunConfig(..., session_input_callback=
        session.input_callback)``.
        """
        return RunConfig(session_input_callback=self.input_callback)

    async def get_items(
        self, limit: int | None = None, wrapper: RunContextWrapper[Any] | None = None
    ) -> list[Item]:
        """Memory's context when a run starts; otherwise the stored history, as always."""
        starting = wrapper is not None and self._turn() is None
        if not starting or resolve_session_limit(limit, self.session_settings) is not None:
            # A program's own read, an SDK bookkeeping read (it asks for a few items), or
            # a session limit the caller chose: the stored items.
            return await super().get_items(limit, wrapper)
        assert wrapper is not None
        _starting.set((self, weakref.ref(wrapper)))
        context = await self.memory.assemble(self.info, "", self.instructions)
        self.last_context = context
        return context.items

    async def input_callback(self, history: list[Item], new_items: list[Item]) -> list[Item]:
        """``RunConfig.session_input_callback``: the context for the new message, then it."""
        context = await self.memory.assemble(self.info, _text_of(new_items), self.instructions)
        self.last_context = context
        found = _starting.get()
        wrapper = found[1]() if found is not None and found[0] is self else None
        if wrapper is not None:
            self._inputs[wrapper] = len(new_items)
        return context.items + new_items

    async def add_items(
        self, items: list[Item], wrapper: RunContextWrapper[Any] | None = None
    ) -> None:
        """Store the run's items, without memory's context items."""
        own = self._inputs.pop(wrapper, None) if wrapper is not None else None
        if own is not None and len(items) > own:
            # The SDK takes the callback's context for new input and stores it ahead of
            # the run's input; it is memory's, already stored where it came from.
            items = items[len(items) - own :]
        await super().add_items(items, wrapper)

    def _started(self, seq: int, items: list[Item]) -> None:
        text = _text_of(items)
        if text:
            self.last_changes = self.memory.learn(self.info, text, seq)


def memory_session(
    store: Store,
    user: str,
    session_id: str = "default",
    *,
    budget: int = 16_000,
    instructions: str = "",
    count: TokenCounter = estimate_tokens,
    summarizer: Summarizer | None = None,
    recall_k: int | None = None,
    cross_session: bool = True,
    session_settings: SessionSettings | None = None,
) -> MemorySession:
    """The user's session (created if needed), with memchat's memory for SDK runs.

    ``budget`` is the most tokens a run's model input takes (with ``run_config``; see the
    module's docstring); pass the agent's ``instructions`` to count them in it. Summaries
    keep the user's own words unless a ``summarizer`` is given (``ModelSummarizer``).
    """
    memory = Memory(
        store,
        budget=budget,
        count=count,
        summarizer=summarizer or ExtractiveSummarizer(),
        recall=store_recall(store),
        recall_k=recall_k,
        cross_session=cross_session,
    )
    info = store.ensure_session(user, session_id)
    return MemorySession(
        store, info, memory, instructions=instructions, session_settings=session_settings
    )


def _text_of(items: list[Item]) -> str:
    """The text of the user messages among ``items``."""
    texts = []
    for item in items:
        if not is_user_message(item):
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return "\n".join(texts)
