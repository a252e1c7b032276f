"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.testing import ScriptedModel, assistant_message

from memchat.chat import Chat


def user_message(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def reply(text: str) -> list[Any]:
    """One scripted model step that answers ``text``."""
    return [assistant_message(text)]


def texts_of(model_input: Any) -> list[str]:
    """The text of every conversation message (not memory's system notes) in order."""
    if isinstance(model_input, str):
        return [model_input]
    out = []
    for item in model_input:
        if item.get("role") == "system":
            continue
        content = item.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.append("".join(part.get("text", "") for part in content))
    return out


def scripted_chat(*replies: str) -> tuple[Chat, ScriptedModel]:
    model = ScriptedModel([reply(text) for text in replies])
    agent: Agent[None] = Agent(name="test", instructions="be brief", model=model)
    return Chat(agent), model


def system_notes(model_input: Any) -> str:
    """The text of the system messages memchat's memory added to a model call's input."""
    return "\n".join(item["content"] for item in model_input if item.get("role") == "system")


def model_reply(model: Model, instructions: str, items: list[Any], max_tokens: int) -> str:
    """The text of ``model``'s whole reply to ``items``, called as the SDK calls it (no
    tools, no tracing)."""
    call = model.get_response(
        instructions,
        items,
        ModelSettings(max_tokens=max_tokens),
        [],
        None,
        [],
        ModelTracing.DISABLED,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
    )
    response = asyncio.run(call)
    return str(response.output[0].content[0].text)  # type: ignore[union-attr,index]
