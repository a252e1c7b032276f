"""The Agents SDK ``Session`` for a memchat session, with atomic turns.

Two ways to use it:

* ``async with session.turn(): await Runner.run(agent, text, session=session)``: the
  strict path memchat's own turn path uses. The session's lock is held for the whole
  turn (so turns of two processes never interleave), every item the SDK adds is buffered,
  and the buffer is committed as one turn when the block ends without an error. An
  exception, a cancellation or Ctrl-C leaves the stored history exactly as before.
* Plain ``Runner.run(agent, text, session=session)`` as with any SDK session. The SDK
  saves the user's input before it calls the model; memchat holds that input back until
  the model's first output arrives and then commits both together, so a failed call
  leaves no orphan input and a retry no duplicate. Later steps of a tool-using run
  (written by the SDK one step at a time) are appended to that turn as they come.

The SDK passes its run's context ``wrapper`` to sessions whose methods accept one; that
is how memchat tells the Runner's writes (held back as above) from a program's own
direct calls (written through at once, exactly as the protocol describes).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from agents import RunContextWrapper
from agents.memory.session_settings import SessionSettings, resolve_session_limit

from ..errors import TurnError
from .base import Item, SessionInfo, Store, drop_orphan_outputs, is_user_message


@dataclass
class _OpenTurn:
    """Items buffered by one ``turn()`` block, committed when it ends."""

    session: MemchatSession
    # Items of the stored last turn, hidden from the model when this turn replaces it.
    hidden: int = 0
    # What the model is given as history instead of the stored items (memchat.memory's
    # budgeted context), if set.
    context: list[Item] | None = None
    items: list[Item] = field(default_factory=list)
    closed: bool = False
    # The committed turn's sequence number, once committed.
    seq: int | None = None


# A context variable rather than an attribute: the SDK streams from a task it creates
# inside the turn block, and that task inherits the variable, so a late write from an
# abandoned stream finds its closed turn instead of writing to the store.
_open_turn: ContextVar[_OpenTurn | None] = ContextVar("memchat_open_turn", default=None)


class MemchatSession:
    """An Agents SDK ``Session`` backed by a memchat :class:`Store`."""

    session_settings: SessionSettings | None

    def __init__(
        self,
        store: Store,
        info: SessionInfo,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self.store = store
        self.info = info
        self.session_id = f"{info.user}/{info.id}"
        self.session_settings = session_settings
        # Plain Runner runs only: each run's input, held until its model answers. Keyed by
        # the run's context wrapper; an entry of a run that failed goes with its wrapper.
        self._held: weakref.WeakKeyDictionary[RunContextWrapper[Any], list[Item]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"MemchatSession({self.session_id!r}, store={self.store.location!r})"

    def _turn(self) -> _OpenTurn | None:
        turn = _open_turn.get()
        if turn is None or turn.session is not self:
            return None
        if turn.closed:
            raise TurnError(f"turn of {self.session_id} already ended; write discarded")
        return turn

    # -- the SDK Session protocol ------------------------------------------------------------

    async def get_items(
        self, limit: int | None = None, wrapper: RunContextWrapper[Any] | None = None
    ) -> list[Item]:
        """The history, oldest first; with ``limit``, only the latest ``limit`` items.

        Never returns a tool output without its call.
        """
        limit = resolve_session_limit(limit, self.session_settings)
        turn = self._turn()
        if turn is not None and turn.context is not None:
            return turn.context + turn.items
        held = self._held.get(wrapper, []) if wrapper is not None else []
        pending = turn.items if turn is not None else held
        hidden = turn.hidden if turn is not None else 0
        if limit is None:
            stored = self.store.get_items(self.info)
            return stored[: len(stored) - hidden] + pending
        if limit <= 0:
            return []
        if len(pending) >= limit:
            return drop_orphan_outputs(pending[-limit:])
        stored = self.store.get_items(self.info, limit - len(pending) + hidden)
        return drop_orphan_outputs(stored[: len(stored) - hidden] + pending)

    async def add_items(
        self, items: list[Item], wrapper: RunContextWrapper[Any] | None = None
    ) -> None:
        """Add items to the history (buffered until the turn ends inside ``turn()``)."""
        if not items:
            return
        turn = self._turn()
        if turn is not None:
            turn.items.extend(items)
            return
        if wrapper is not None and all(is_user_message(item) for item in items):
            # The Runner saves the input before the model call; a failed call would leave
            # it orphaned, so it waits here for the reply. A retry is a new run, with a new
            # wrapper, so it never sees a failed run's input.
            self._held.setdefault(wrapper, []).extend(items)
            return
        held = self._held.pop(wrapper, None) if wrapper is not None else None
        if held:
            self.store.commit_turn(self.info, held + items)
        elif is_user_message(items[0]):
            self.store.commit_turn(self.info, items)
        else:
            self.store.append_to_last_turn(self.info, items)

    async def pop_item(self, wrapper: RunContextWrapper[Any] | None = None) -> Item | None:
        """Remove and return the most recent item, or None if there is none."""
        turn = self._turn()
        if turn is not None and turn.items:
            return turn.items.pop()
        held = self._held.get(wrapper) if wrapper is not None else None
        if held:
            return held.pop()
        return self.store.pop_item(self.info)

    async def clear_session(self, wrapper: RunContextWrapper[Any] | None = None) -> None:
        """Delete every item of this session."""
        turn = self._turn()
        if turn is not None:
            turn.items.clear()
        self._held.clear()
        self.store.clear_session(self.info)

    # -- memchat's turn API ------------------------------------------------------------------

    @asynccontextmanager
    async def turn(self, *, replace_last: bool = False) -> AsyncIterator[_OpenTurn]:
        """Run one turn atomically: commit what the SDK adds in the block, or nothing.

        With ``replace_last`` the session's last turn is replaced by the new one in the
        same transaction (regenerating a reply). The block gets the open turn, whose
        ``context`` may be set to the history the model should see.
        """
        current = _open_turn.get()
        if current is not None and current.session is self and not current.closed:
            raise TurnError(f"a turn of {self.session_id} is already open in this task")
        async with self.store.turn_lock(self.info):
            turn = _OpenTurn(self)
            if replace_last:
                last = self.store.last_turn(self.info)
                turn.hidden = len(last.items) if last is not None else 0
            token = _open_turn.set(turn)
            try:
                yield turn
            finally:
                turn.closed = True
                _open_turn.reset(token)
            if turn.items:
                turn.seq = self.store.commit_turn(self.info, turn.items, replace_last=replace_last)

    async def pop_turn(self) -> list[Item]:
        """Remove the most recent turn and return its items ([] if there is none)."""
        async with self.store.turn_lock(self.info):
            turn = self.store.pop_turn(self.info)
        return [] if turn is None else turn.items
