"""``POST /api/sessions/{id}/messages``: one turn, its reply streamed as server-sent events.

The turn goes through :meth:`memchat.chat.Chat.stream_turn`, the path every interface
uses: it is committed whole when the reply ends, or not at all if the model fails or the
client disconnects, and turns of one session take turns (two tabs never interleave).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

from fastapi import APIRouter

from ...chat import Chat, TurnResult
from ...errors import InputTooLarge, MemchatError, TurnError
from ...memory.context import SAFETY_MARGIN
from ...memory.tokens import MESSAGE_OVERHEAD
from ...store import MemchatSession, SessionInfo, Store
from ...store.base import check_name
from ..auth import CurrentToken, CurrentUser, Unauthorized
from ..errors import ApiError, error_body, not_found, public_error
from ..event_schemas import DeltaEvent, DoneEvent, MemoryChangesOut, event_stream_schema
from ..schemas import MessageIn, SessionId, SessionOut
from ..sse import EventStream, event
from ..state import State
from . import errors
from .sessions import own_session

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/sessions", tags=["messages"])

_STREAM_DOC = """\
A stream of server-sent events:

- `event: delta`, `data: {"text": "..."}`: the next piece of the reply;
- `event: done`, `data: {"seq": N, "session": {...}, "memory": {...}}`: the turn is stored
  as turn `seq`; the session as it is now;
- `event: error`, `data: {"error": {"code": "...", "message": "..."}}`: the turn failed
  and nothing of it was stored.

If the client disconnects before the reply is complete, nothing of the turn is stored.
With `create`, the session is made for this message and kept only if its turn is.
"""


@router.post(
    "/{session_id}/messages",
    response_class=EventStream,
    status_code=200,
    responses={
        200: {
            "description": _STREAM_DOC,
            "content": {"text/event-stream": {"schema": event_stream_schema()}},
        },
        **errors(400, 404, 409, 429, by_reference=True),
    },
)
async def send_message(
    state: State, user: CurrentUser, token: CurrentToken, session_id: SessionId, body: MessageIn
) -> EventStream:
    """Send a message; the reply streams back as server-sent events."""
    if not body.create:
        info = own_session(state.store, user.name, session_id)
        if body.replace_last and state.store.last_turn(info) is None:
            raise ApiError(409, "conflict", "the session has no turn to replace")
        if body.edit_seq is not None:
            check_edit(state.store, info, body.edit_seq)
    elif body.edit_seq is not None:
        raise ApiError(400, "bad_request", "a new session has no turn to replace")
    chat = state.chat
    # Checked before the stream starts, so a message over the limit gets a plain 413.
    chat.check_input(body.text)
    check_context_room(chat, body.text)
    if state.rate_limit is not None:
        wait = state.store.take_turn_slot(user.name, state.rate_limit)
        if wait > 0:
            seconds = math.ceil(wait)
            raise ApiError(
                429,
                "rate_limited",
                f"too many messages: the limit is {state.rate_limit}; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
    if body.create:
        # Last, after every check: a session made here is one that gets its first turn.
        key = check_name("session id", session_id)
        info = state.store.create_session(user.name, key, project=body.project)
    session = _TokenCheckedSession(state.store, info, token)
    events = _turn_events(
        chat,
        state.store,
        session,
        body.text,
        replace_last=body.replace_last,
        edit_seq=body.edit_seq,
    )
    return EventStream(_kept_if_stored(state.store, info, events) if body.create else events)


class _TokenCheckedSession(MemchatSession):
    """A session whose turns are stored only if the caller's token still holds.

    A reply may stream for minutes; a token revoked meanwhile (``memchat users revoke``,
    ``DELETE /api/users/NAME/tokens``) must not get its turn stored after all.
    """

    def __init__(self, store: Store, info: SessionInfo, token: str) -> None:
        super().__init__(store, info)
        self.token = token

    @asynccontextmanager
    async def turn(
        self, *, replace_last: bool = False, edit_seq: int | None = None
    ) -> AsyncIterator[Any]:
        async with super().turn(replace_last=replace_last, edit_seq=edit_seq) as turn:
            yield turn
            # Last thing in the block, under the session's lock: the turn is committed
            # right after, or, raising here, not at all.
            holder = self.store.user_for_token(self.token)
            if holder is None or holder.name != self.info.user:
                raise Unauthorized(
                    "the API token was revoked while the reply streamed; nothing was saved"
                )


def check_edit(store: Store, info: SessionInfo, seq: int) -> None:
    """A 404 before the stream starts if the active branch has no turn ``seq``."""
    turns = store.list_turns(info, after_seq=seq - 1, limit=1)
    if not turns or turns[0].seq != seq:
        raise not_found(f"the session's active branch has no turn {seq}")


def check_context_room(chat: Chat, text: str) -> None:
    """Raise InputTooLarge if ``text`` and the system prompt alone overflow the model's
    context budget: the first check of ``Memory.assemble``, made here before the stream
    starts (a 413, not a 200 and then an ``error`` event). A test holds the two together.
    """
    memory = chat.memory
    if memory is None:
        return
    instructions = chat.agent.instructions
    prompt = instructions if isinstance(instructions, str) else ""
    usable = int(memory.budget * (1 - SAFETY_MARGIN))
    fixed = memory.count(prompt) + MESSAGE_OVERHEAD
    asked = memory.count(text) + MESSAGE_OVERHEAD
    if fixed + asked > usable:
        raise InputTooLarge(
            f"the message takes about {asked:,} tokens; with the system prompt that is "
            f"over this model's context budget of {memory.budget:,} (MEMCHAT_CONTEXT_TOKENS)"
        )


async def _kept_if_stored(
    store: Store, info: SessionInfo, events: AsyncGenerator[str, None]
) -> AsyncGenerator[str, None]:
    """The events of a session's first turn; the session goes if the turn is not stored
    (it failed, or the client left), so no empty session is left behind."""
    try:
        async with aclosing(events) as inner:
            async for item in inner:
                yield item
    finally:
        found = store.find_session(info.user, info.id)
        if found is not None and found.turn_count == 0:
            store.delete_session(info.user, info.id)


async def _turn_events(
    chat: Chat,
    store: Store,
    session: MemchatSession,
    text: str,
    *,
    replace_last: bool,
    edit_seq: int | None,
) -> AsyncGenerator[str, None]:
    """The events of one turn; closing this generator early abandons the turn."""
    result: TurnResult | None = None
    try:
        # aclosing: if the client leaves, the turn is rolled back (and its session lock
        # released) as soon as this generator is closed, not whenever it is collected.
        stream = chat.stream_turn(session, text, replace_last=replace_last, edit_seq=edit_seq)
        async with aclosing(stream) as turn:
            async for piece in turn:
                if isinstance(piece, TurnResult):
                    result = piece
                else:
                    yield event("delta", DeltaEvent(text=piece).model_dump())
        if result is None:
            raise TurnError("the turn ended without a result")
    except MemchatError as exc:
        _, code, message = public_error(exc, f"turn in {session.session_id}")
        yield event("error", error_body(code, message))
        return
    except Exception:
        log.exception("turn in %s crashed", session.session_id)
        yield event("error", error_body("internal_error", "internal server error"))
        return
    info = store.find_session(session.info.user, session.info.id) or session.info
    done = DoneEvent(
        seq=result.seq, session=SessionOut.of(info), memory=MemoryChangesOut.of(result.changes)
    )
    yield event("done", done.model_dump())
