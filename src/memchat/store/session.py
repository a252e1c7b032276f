"""The Agents SDK ``Session`` for a memchat session, with atomic turns.

Two ways to use it:

* ``async with session.turn(): await Runner.run(agent, text, session=session)``: the
  strict path memchat's own turn path uses. The session's lock is held for the whole
  turn (so turns of two processes never interleave), every item the SDK adds is buffered,
  and the buffer is committed as one turn when the block ends without an error. An
  exception, a cancellation or Ctrl-C leaves the stored history exactly as before.
* Plain ``Runner.run(agent, text, session=session)`` as with any SDK session: memchat
  stores what the SDK's own ``SQLiteSession`` stores, when it stores it, and each run's
  items form one turn of their own. The run's input starts a new turn; every later step
  of the run is added to that turn, whatever other runs (other tasks, other processes)
  have written since, so two runs never mix their items and ``/undo`` removes one run.
  The input is written before the model is called, as the SDK does: the session is not
  told when a run ends, so it cannot tell a finished run that produced nothing (whose
  input must stay) from a failed one, and keeps the input of both. A resumed run (after
  a human approval) adds its items to the turn that holds the calls it answers.

The SDK passes its run's context ``wrapper`` to sessions whose methods accept one; that
is how memchat tells one run's writes from another's, and both from a program's own
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
from agents.memory.session_settings import (
    SessionSettings,
    coerce_session_settings,
    resolve_session_limit,
)

from ..errors import TurnError, TurnNotFound
from .base import (
    Item,
    SessionInfo,
    Store,
    call_id_of_call,
    call_id_of_output,
    drop_orphan_outputs,
    is_user_message,
)
from .records import MAX_SEQ
from .usage import TurnUsage


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
    # What the turn cost, if the block sets it: stored with the turn, in its transaction.
    usage: TurnUsage | None = None


# How far back a resumed run looks for the turn that holds the calls it answers.
_RESUME_SEARCH_ITEMS = 1000

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
        session_settings: SessionSettings | dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.info = info
        # The id the session was opened with, so ``store.session(user, s.session_id)``
        # opens it again (the SDK's own code reopens sessions by their session_id).
        self.session_id = info.id
        # As the SDK's own sessions: settings always present, a dict checked and converted.
        self.session_settings = (
            coerce_session_settings(session_settings)
            if session_settings is not None
            else SessionSettings()
        )
        # The turn of each plain Runner run that has stored its first items, keyed by the
        # run's context wrapper: an entry goes with its run.
        self._runs: weakref.WeakKeyDictionary[RunContextWrapper[Any], int] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, store={self.store.location!r})"

    @property
    def name(self) -> str:
        """``user/session id``, which names the session across users."""
        return f"{self.info.user}/{self.info.id}"

    def _turn(self) -> _OpenTurn | None:
        turn = _open_turn.get()
        if turn is None or turn.session is not self:
            return None
        if turn.closed:
            raise TurnError(f"turn of {self.name} already ended; write discarded")
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
        pending = turn.items if turn is not None else []
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
        if wrapper is None:
            # A program's own call: a user message starts a turn, anything else continues
            # the last one.
            if is_user_message(items[0]):
                self._started(self.store.commit_turn(self.info, items), items)
            else:
                self.store.append_to_last_turn(self.info, items)
            return
        seq = self._runs.get(wrapper)
        if seq is None:
            self._runs[wrapper] = self._start_run(items)
        else:
            self._runs[wrapper] = self.store.append_to_turn(self.info, seq, items)

    async def pop_item(self, wrapper: RunContextWrapper[Any] | None = None) -> Item | None:
        """Remove and return the most recent item, or None if there is none."""
        turn = self._turn()
        if turn is not None and turn.items:
            return turn.items.pop()
        return self.store.pop_item(self.info)

    async def clear_session(self, wrapper: RunContextWrapper[Any] | None = None) -> None:
        """Delete every item of this session."""
        turn = self._turn()
        if turn is not None:
            turn.items.clear()
        self.store.clear_session(self.info)

    # -- plain runs --------------------------------------------------------------------------

    def _start_run(self, items: list[Item]) -> int:
        """Store a run's first items and return the turn the rest of the run goes to."""
        answered = {cid for item in items if (cid := call_id_of_output(item)) is not None}
        if answered and not is_user_message(items[0]):
            # A resumed run (after an approval) continues the turn that holds its calls.
            for turn in reversed(self.store.recent_turns(self.info, 0, _RESUME_SEARCH_ITEMS)):
                if any(call_id_of_call(item) in answered for item in turn.items):
                    return self.store.append_to_turn(self.info, turn.seq, items)
        seq = self.store.commit_turn(self.info, items)
        self._started(seq, items)
        return seq

    def _started(self, seq: int, items: list[Item]) -> None:
        """Called when ``items`` are stored as the new turn ``seq`` (outside ``turn()``)."""

    # -- memchat's turn API ------------------------------------------------------------------

    @asynccontextmanager
    async def turn(
        self, *, replace_last: bool = False, edit_seq: int | None = None
    ) -> AsyncIterator[_OpenTurn]:
        """Run one turn atomically: commit what the SDK adds in the block, or nothing.

        With ``edit_seq`` the new turn takes the place of turn ``edit_seq``: that turn and
        the ones after it are hidden from the model, and when the block ends they move to
        a new branch in the transaction that stores the new turn (raise TurnNotFound before
        the block if the active line has no such turn). ``replace_last`` does so for the
        last turn (regenerating a reply). The block gets the open turn, whose ``context``
        may be set to the history the model should see.
        """
        current = _open_turn.get()
        if current is not None and current.session is self and not current.closed:
            raise TurnError(f"a turn of {self.name} is already open in this task")
        async with self.store.turn_lock(self.info):
            turn = _OpenTurn(self)
            if edit_seq is not None:
                fits = 0 < edit_seq <= MAX_SEQ
                replaced = self.store.turns_after(self.info, edit_seq - 1, None) if fits else []
                if not replaced or replaced[0].seq != edit_seq:
                    raise TurnNotFound(f"{self.name} has no turn {edit_seq} on its active branch")
                turn.hidden = sum(len(t.items) for t in replaced)
            elif replace_last:
                last = self.store.last_turn(self.info)
                turn.hidden = len(last.items) if last is not None else 0
            token = _open_turn.set(turn)
            try:
                yield turn
            finally:
                turn.closed = True
                _open_turn.reset(token)
            if turn.items:
                turn.seq = self.store.commit_turn(
                    self.info,
                    turn.items,
                    replace_last=replace_last,
                    edit_seq=edit_seq,
                    usage=turn.usage,
                )

    async def pop_turn(self) -> list[Item]:
        """Remove the most recent turn and return its items ([] if there is none)."""
        async with self.store.turn_lock(self.info):
            turn = self.store.pop_turn(self.info)
        return [] if turn is None else turn.items
