"""The client's own tools (``tools``), passed to the model where it supports tools.

The client runs them, not memchat: when the model calls one, the turn stops, nothing of
it is stored, and the calls go back to the client (``finish_reason: "tool_calls"``). The
client then sends the conversation again with the results (``role: "tool"``); that
request runs the turn from the user's message, the calls and their results, and stores
all of it, with the reply, as one turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents import FunctionTool
from agents.tool_context import ToolContext

from ..errors import MemchatError
from .errors import ApiError
from .openai_schemas import ChatMessage, FunctionCall, ToolCall, ToolDef


class ClientToolCalls(MemchatError):
    """The model called tools of the client's: the calls go back to the client."""

    def __init__(self, calls: list[ToolCall]) -> None:
        super().__init__("the model called the client's tools")
        self.calls = calls


def calls_in(exc: BaseException) -> ClientToolCalls | None:
    """The client's tool calls that ended a turn, if that is what ``exc`` came from.

    The SDK wraps an exception a tool raises (UserError), and the turn path wraps that in
    turn (ModelCallFailed): the calls are found along the chain of causes.
    """
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ClientToolCalls):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def client_tools(definitions: Sequence[ToolDef]) -> list[FunctionTool]:
    """Tools the model can call, each of which ends the turn with its call."""
    # Shared by the tools of one request, so calls made in parallel all go back.
    calls: list[ToolCall] = []

    async def invoke(context: ToolContext[Any], arguments: str) -> Any:
        calls.append(
            ToolCall(
                id=context.tool_call_id,
                function=FunctionCall(name=context.tool_name, arguments=arguments),
            )
        )
        raise ClientToolCalls(calls)

    return [
        FunctionTool(
            name=d.function.name,
            description=d.function.description or "",
            params_json_schema=d.function.parameters or {"type": "object", "properties": {}},
            on_invoke_tool=invoke,
            strict_json_schema=False,
        )
        for d in definitions
    ]


def last_user_index(messages: Sequence[ChatMessage]) -> int:
    """Where the new turn starts: the last user message, followed only by tool calls and
    their results."""
    for index in range(len(messages) - 1, -1, -1):
        role = messages[index].role
        if role == "user":
            if messages[-1].role == "assistant":
                break
            return index
        if role not in ("assistant", "tool"):
            break
    raise ApiError(
        400,
        "invalid_request",
        "the last message must be the user's, or the results of the tools the reply called",
    )


def turn_input(messages: Sequence[ChatMessage], start: int) -> list[Any] | None:
    """The turn's input when it carries tool results: the user's message, the calls and
    their results, as the Agents SDK takes them; None for a plain user message."""
    tail = messages[start + 1 :]
    if not tail:
        return None
    items: list[Any] = [{"role": "user", "content": messages[start].text}]
    for message in tail:
        if message.role == "tool":
            if not message.tool_call_id:
                raise ApiError(400, "invalid_request", "a tool message needs its tool_call_id")
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.text,
                }
            )
            continue
        if message.text:
            items.append({"role": "assistant", "content": message.text})
        for call in message.tool_calls or []:
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                }
            )
    return items
