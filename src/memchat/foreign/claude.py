"""Claude's data export: ``conversations.json``, a list of conversations.

Each has ``uuid``, ``name``, ``created_at`` (ISO 8601) and ``chat_messages`` in order:
``{"uuid", "sender": "human" | "assistant", "text", "content": [{"type": "text",
"text"}, ...], "created_at", "attachments": [{"file_name", "extracted_content"}]}``.
Newer exports give each message its ``parent_message_uuid``, so edited messages and
retried replies form a tree as ChatGPT's do; older ones are a plain list. Kept: the text
blocks (or ``text`` when there are none) and attached files' names; left out: tool use
and its results, and the model's thinking.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ImportFormatError
from .thread import Conversation, Message, iso

# The parent Claude gives a conversation's first messages (all of them, where the first
# message was edited).
_ROOT = "00000000-0000-4000-8000-000000000000"
_ROLES = {"human": "user", "user": "user", "assistant": "assistant"}


def is_claude(data: Any) -> bool:
    """Whether parsed JSON looks like a Claude export (conversations with chat_messages)."""
    return isinstance(data, list) and any(
        isinstance(entry, dict) and "chat_messages" in entry for entry in data[:5]
    )


def conversations(data: Any, where: str) -> list[Conversation]:
    """Every conversation of the export; ImportFormatError naming the bad one and message."""
    if not isinstance(data, list):
        raise ImportFormatError(f"{where}: expected a list of conversations")
    return [_conversation(entry, f"{where}: conversation {n}") for n, entry in enumerate(data, 1)]


def _conversation(entry: Any, where: str) -> Conversation:
    if not isinstance(entry, dict) or not isinstance(entry.get("chat_messages"), list):
        raise ImportFormatError(f"{where}: not a conversation (no chat_messages list)")
    key = entry.get("uuid")
    if not isinstance(key, str) or not key:
        raise ImportFormatError(f"{where}: no uuid")
    where = f"{where} ({key})"
    messages: list[Message] = []
    for number, raw in enumerate(entry["chat_messages"], 1):
        message = _message(raw, f"{where}, message {number}")
        if message.parent is None and messages and not _has_parents(entry):
            # An old, linear export: each message follows the one before.
            message = Message(
                message.id, messages[-1].id, message.role, message.text, message.created_at
            )
        messages.append(message)
    known = {m.id for m in messages}
    messages = [replace(m, parent=None) if _is_root(m, messages, known) else m for m in messages]
    title = entry.get("name")
    first = next((m.created_at for m in messages if m.created_at), None)
    return Conversation(
        "claude",
        key,
        title if isinstance(title, str) and title.strip() else None,
        iso(entry.get("created_at")) or first or "1970-01-01T00:00:00.000000Z",
        messages,
        _current(entry, messages),
        where,
    )


def _is_root(message: Message, messages: list[Message], known: set[str]) -> bool:
    """Whether ``message`` names as its parent Claude's root rather than a message:
    the fixed root id, or any id that is no message's, on the first message."""
    if message.parent in (None, _ROOT):
        return True
    return message.parent not in known and message is messages[0]


def _has_parents(entry: dict[str, Any]) -> bool:
    return any(isinstance(m, dict) and m.get("parent_message_uuid") for m in entry["chat_messages"])


def _current(entry: dict[str, Any], messages: list[Message]) -> str | None:
    """The leaf on screen: the export's own pointer if it has one, else the latest message."""
    pointer = entry.get("current_leaf_message_uuid")
    if isinstance(pointer, str):
        return pointer
    dated = [m for m in messages if m.created_at]
    return max(dated, key=lambda m: m.created_at or "").id if dated else None


def _message(raw: Any, where: str) -> Message:
    if not isinstance(raw, dict):
        raise ImportFormatError(f"{where}: not a message object")
    key = raw.get("uuid")
    if not isinstance(key, str) or not key:
        raise ImportFormatError(f"{where}: no uuid")
    role = _ROLES.get(str(raw.get("sender")))
    if role is None:
        raise ImportFormatError(
            f"{where}: sender {raw.get('sender')!r} is neither human nor assistant"
        )
    parent = raw.get("parent_message_uuid")
    parent = parent if isinstance(parent, str) and parent else None
    return Message(key, parent, role, _text(raw, where), iso(raw.get("created_at")))


def _text(raw: dict[str, Any], where: str) -> str:
    blocks = raw.get("content")
    if blocks is not None and not isinstance(blocks, list):
        raise ImportFormatError(f"{where}: content is not a list")
    texts = [
        block["text"]
        for block in blocks or []
        if isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    ]
    text = "\n\n".join(texts) if texts else raw.get("text")
    if text is not None and not isinstance(text, str):
        raise ImportFormatError(f"{where}: text is not a string")
    files = [
        attached.get("file_name")
        for attached in (raw.get("attachments") or []) + (raw.get("files") or [])
        if isinstance(attached, dict) and isinstance(attached.get("file_name"), str)
    ]
    notes = "".join(f"\n[attached {name}]" for name in files)
    return (text or "") + notes
