"""What every request shares: the settings, the store and the chat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ..chat import Chat
from ..config import Settings
from ..models import ModelChoice
from ..store import Store
from ..store.rates import RateLimit

ModelFactory = Callable[[Settings], ModelChoice]


@dataclass
class ServerState:
    """The app's long-lived objects, built once by :func:`memchat.server.create_app`."""

    settings: Settings
    store: Store
    model: ModelChoice
    # One for every request: a turn's outcome is its own TurnResult, kept on no Chat.
    chat: Chat
    # MEMCHAT_RATE_LIMIT: model turns per user, counted in the store (shared by workers).
    rate_limit: RateLimit | None = None


async def _state(request: Request) -> ServerState:
    # async, though it awaits nothing: FastAPI would run a plain function in a thread.
    state = request.app.state.memchat
    assert isinstance(state, ServerState)
    return state


State = Annotated[ServerState, Depends(_state)]
