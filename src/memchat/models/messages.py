"""SDK input items as the plain chat messages llama.cpp's chat template takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from agents.items import TResponseInputItem

__all__ = ["REMINDER_QUOTE_CHARS", "ChatMessage", "to_chat_messages", "with_reminder"]

# The most of the user's message a reminder quotes: a long paste is read once, not twice.
REMINDER_QUOTE_CHARS = 300

ChatMessage = dict[str, str]


def to_chat_messages(
    system_instructions: str | None,
    input: str | list[TResponseInputItem],
    reminder: str | None = None,
) -> list[ChatMessage]:
    """Convert SDK input items into chat-completion messages with plain string content.

    Only messages are kept: with no tools offered, tool calls and their outputs can only come
    from a history made with another model, and reasoning items mean nothing to this one.
    Images and files are dropped because the model reads text only. A ``reminder`` follows
    the user's new message as a system message, with ``{message}`` in it replaced by that
    message (its first ``REMINDER_QUOTE_CHARS`` characters).
    """
    messages: list[ChatMessage] = []
    if system_instructions:
        messages.append({"role": "system", "content": system_instructions})
    if isinstance(input, str):
        input = [{"role": "user", "content": input}]
    for item in input:
        data = cast(Mapping[str, Any], item)
        if data.get("type", "message") != "message":
            continue
        role = data.get("role")
        if role == "developer":
            role = "system"
        if role in ("system", "user", "assistant"):
            messages.append({"role": role, "content": _content_text(data.get("content"))})
    return with_reminder(messages, reminder)


def with_reminder(messages: list[ChatMessage], reminder: str | None) -> list[ChatMessage]:
    """``messages`` and, when the last is the user's, ``reminder`` after it as a system
    message, with ``{message}`` in it replaced by that message (its first
    ``REMINDER_QUOTE_CHARS`` characters)."""
    if not reminder or not messages or messages[-1]["role"] != "user":
        return messages
    asked = messages[-1]["content"]
    if len(asked) > REMINDER_QUOTE_CHARS:
        asked = asked[:REMINDER_QUOTE_CHARS] + "…"
    return [*messages, {"role": "system", "content": reminder.replace("{message}", asked)}]


def _content_text(content: object) -> str:
    """Flatten a message's content (a string or a list of parts) into text."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "refusal":
            texts.append(str(part.get("refusal", "")))
    return "\n".join(texts)
