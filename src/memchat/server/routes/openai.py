"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``.

The API key is the user's memchat token. Each request becomes one turn of one of the
user's sessions (``openai_sessions.py`` says which), through the same
:meth:`memchat.chat.Chat.stream_turn` as ``/api``: only the new user message is stored,
with the reply, atomically; the model sees memchat's budgeted context in place of the
history the client sent, and the client's system messages as instructions.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, Any

from agents import Agent
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from ...chat import Chat, TurnResult
from ...errors import MemchatError, TurnError
from ...store import MemchatSession
from ..auth import CurrentUser
from ..errors import ApiError, status_of
from ..openai_errors import openai_error
from ..openai_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelList,
    ModelOut,
    OpenAIErrorBody,
    Usage,
    chunk,
)
from ..openai_sessions import (
    SESSION_HEADER,
    ContinuedSession,
    choose_session,
    explicit_session_id,
)
from ..openai_tools import calls_in, client_tools, last_user_index, turn_input
from ..sse import EventStream
from ..state import ServerState, State

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])

# The name clients can always use, whatever model memchat runs.
MODEL_ALIAS = "memchat"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody, "description": description}
    for status, description in {
        400: "The request is malformed or cannot be carried out.",
        401: "No valid API key (a memchat token).",
        404: "No such model.",
        408: "The request body was not sent in time.",
        409: "The conversation changed while the request waited for its session.",
        413: "The request or the message is too large.",
        429: "Too many messages for the rate limit; see Retry-After.",
        502: "The model call failed; nothing was stored.",
    }.items()
}


def _model_ids(state: ServerState) -> list[str]:
    return list(dict.fromkeys([MODEL_ALIAS, state.model.name]))


@router.get("/models", response_model=ModelList, responses=_ERRORS)
async def list_models(state: State, user: CurrentUser) -> ModelList:
    """The model memchat runs, under memchat's name for it and under its own."""
    return ModelList(data=[ModelOut(id=model_id) for model_id in _model_ids(state)])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        **_ERRORS,
        200: {
            "description": "The answer; with `stream`, server-sent `chat.completion.chunk`s "
            "and `data: [DONE]`.",
            "content": {"text/event-stream": {}},
        },
    },
)
async def chat_completions(
    state: State,
    user: CurrentUser,
    body: ChatCompletionRequest,
    x_memchat_session: Annotated[str | None, Header(alias=SESSION_HEADER)] = None,
) -> Any:
    """One turn: the last message is the user's; the reply comes back whole or streamed."""
    if body.model not in _model_ids(state):
        raise ApiError(
            404,
            "model_not_found",
            f"the model {body.model!r} does not exist; use {MODEL_ALIAS!r}",
        )
    start = last_user_index(body.messages)
    if body.messages[start].has_non_text:
        raise ApiError(400, "invalid_request", "only text content is supported")
    text = body.messages[start].text
    input_items = turn_input(body.messages, start)
    chat = state.chat
    # Checked before anything is stored or streamed, so a message over the limit gets a 413.
    chat.check_input(text)
    agent = _agent_for(state, body)
    explicit = explicit_session_id(x_memchat_session, body.metadata)
    _take_turn_slot(state, user.name)
    info = choose_session(state.store, user.name, body.messages[: start + 1], explicit)
    # A session found from the history takes the turn only if nothing was added since.
    session = (
        MemchatSession(state.store, info)
        if explicit is not None
        else ContinuedSession(state.store, info)
    )
    completion_id = f"chatcmpl-{secrets.token_hex(12)}"
    created = int(time.time())
    headers = {SESSION_HEADER: info.id}
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        stream = EventStream(
            _chunks(
                chat,
                _Turn(session, text, input_items, agent),
                completion_id,
                created,
                body.model,
                include_usage,
            )
        )
        stream.headers.update(headers)
        return stream
    result: TurnResult | None = None
    try:
        result = await chat.run_turn(session, text, input_items=input_items, agent=agent)
        choice = Choice(message=AssistantMessage(content=result.reply))
    except MemchatError as exc:
        called = calls_in(exc)
        if called is None:
            raise
        choice = Choice(
            message=AssistantMessage(content=None, tool_calls=called.calls),
            finish_reason="tool_calls",
        )
    completion = ChatCompletion(
        id=completion_id,
        created=created,
        model=body.model,
        choices=[choice],
        usage=_usage(result),
    )
    return JSONResponse(completion.model_dump(), headers=headers)


def _agent_for(state: ServerState, body: ChatCompletionRequest) -> Agent[Any]:
    """The request's agent: memchat's instructions, then the client's system messages, and
    the client's tools."""
    agent = state.chat.agent
    client = [m.text for m in body.messages if m.role in ("system", "developer") and m.text]
    if client:
        own = agent.instructions
        instructions = "\n\n".join([own, *client] if isinstance(own, str) and own else client)
        agent = agent.clone(instructions=instructions)
    if body.tools and state.model.supports_tools:
        agent = agent.clone(tools=[*agent.tools, *client_tools(body.tools)])
    return agent


def _take_turn_slot(state: ServerState, user: str) -> None:
    if state.rate_limit is None:
        return
    wait = state.store.take_turn_slot(user, state.rate_limit)
    if wait > 0:
        seconds = math.ceil(wait)
        raise ApiError(
            429,
            "rate_limited",
            f"too many messages: the limit is {state.rate_limit}; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def _usage(result: TurnResult | None) -> Usage:
    """Token counts by memchat's counter: the context the model got, and the reply.

    None (the model called the client's tools; no turn was stored): no counts.
    """
    prompt = result.context_tokens if result is not None else 0
    completion = result.reply_tokens if result is not None else 0
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _data(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


@dataclass(frozen=True)
class _Turn:
    session: MemchatSession
    text: str
    input_items: list[Any] | None
    agent: Agent[Any]


async def _chunks(
    chat: Chat,
    turn: _Turn,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
) -> AsyncGenerator[str, None]:
    """The chunks of one streamed turn; closing this generator early abandons the turn."""
    result: TurnResult | None = None
    yield _data(chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
    try:
        stream = chat.stream_turn(
            turn.session, turn.text, input_items=turn.input_items, agent=turn.agent
        )
        async with aclosing(stream) as pieces:
            async for piece in pieces:
                if isinstance(piece, TurnResult):
                    result = piece
                else:
                    yield _data(chunk(completion_id, created, model, {"content": piece}))
        if result is None:
            raise TurnError("the turn ended without a result")
    except MemchatError as exc:
        called = calls_in(exc)
        if called is None:
            status, code = status_of(exc)
            # OpenAI clients raise an APIError for a chunk that carries an error.
            yield _data(openai_error(status, code, str(exc)))
            return
        calls = [
            {"index": index, **call.model_dump(exclude_none=True)}
            for index, call in enumerate(called.calls)
        ]
        yield _data(chunk(completion_id, created, model, {"tool_calls": calls}))
        finish = "tool_calls"
    except Exception:
        log.exception("turn in %s crashed", turn.session.session_id)
        yield _data(openai_error(500, "internal_error", "internal server error"))
        return
    else:
        finish = "stop"
    yield _data(chunk(completion_id, created, model, {}, finish_reason=finish))
    if include_usage:
        yield _data(chunk(completion_id, created, model, None, usage=_usage(result)))
    yield "data: [DONE]\n\n"
