"""Which session a model call belongs to: context variables the chat sets around its run
(the SDK's ``Model`` interface has no place for them), read by the embedded model to keep
that session's prompt state (``prompt_state.py``, ``next_prompt.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_SESSION: ContextVar[tuple[str, str] | None] = ContextVar("memchat_prompt_session", default=None)
_TURN_ONLY: ContextVar[frozenset[str]] = ContextVar("memchat_turn_only", default=frozenset())


@contextmanager
def prompt_session(user: str, session_id: str, turn_only: Iterable[str] = ()) -> Iterator[None]:
    """Mark the model calls started inside as turns of ``user``'s session ``session_id``.

    ``turn_only``: the texts of the system messages shown for this turn's message alone
    (recalled excerpts), which the session's next prompt will not hold (``next_prompt.py``).
    Tasks copy context variables when they are created, so a run started inside (the
    SDK's ``Runner.run_streamed`` starts its task at once) keeps the mark to its end.
    """
    token = _SESSION.set((user, session_id))
    only = _TURN_ONLY.set(frozenset(turn_only))
    try:
        yield
    finally:
        _TURN_ONLY.reset(only)
        _SESSION.reset(token)


def current_session() -> tuple[str, str] | None:
    """The ``(user, session_id)`` of the model call being made, if the caller said."""
    return _SESSION.get()


def current_turn_only() -> frozenset[str]:
    """The texts of the system messages of the model call being made that are this turn's
    alone (empty where the caller did not say)."""
    return _TURN_ONLY.get()
