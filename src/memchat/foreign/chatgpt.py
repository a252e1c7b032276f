"""ChatGPT's data export: ``conversations.json``, a list of conversations, each a tree.

Each conversation has ``id`` (or ``conversation_id``), ``title``, ``create_time`` (Unix
seconds), ``current_node`` and ``mapping``: node id -> ``{"message": ..., "parent": ...,
"children": [...]}``. A message has ``author.role`` (user, assistant, system, tool),
``create_time`` and ``content``: ``{"content_type": "text", "parts": ["..."]}``, or
``multimodal_text`` whose parts mix text with image pointers, or ``code``/``execution_output``
with ``text``. Kept: what the user and the assistant said in text (images are noted as
``[image]``); left out: system and tool messages, the assistant's calls to tools
(``recipient`` other than ``all``), hidden context
(``metadata.is_visually_hidden_from_conversation``), and the model's reasoning.
"""

from __future__ import annotations

from typing import Any

from ..errors import ImportFormatError
from .thread import Conversation, Message, iso

# Content that is the user's or the assistant's words, and how to read it.
_TEXT_TYPES = ("text", "multimodal_text", "code")


def is_chatgpt(data: Any) -> bool:
    """Whether parsed JSON looks like a ChatGPT export (conversations with a mapping)."""
    return isinstance(data, list) and any(
        isinstance(entry, dict) and "mapping" in entry for entry in data[:5]
    )


def conversations(data: Any, where: str) -> list[Conversation]:
    """Every conversation of the export; ImportFormatError naming the bad one and node."""
    if not isinstance(data, list):
        raise ImportFormatError(f"{where}: expected a list of conversations")
    return [_conversation(entry, f"{where}: conversation {n}") for n, entry in enumerate(data, 1)]


def _conversation(entry: Any, where: str) -> Conversation:
    if not isinstance(entry, dict) or not isinstance(entry.get("mapping"), dict):
        raise ImportFormatError(f"{where}: not a conversation (no mapping of messages)")
    key = entry.get("conversation_id") or entry.get("id")
    if not isinstance(key, str) or not key:
        raise ImportFormatError(f"{where}: no conversation id")
    where = f"{where} ({key})"
    started = iso(entry.get("create_time"))
    messages = [
        _message(node_id, node, f"{where}, node {node_id}")
        for node_id, node in entry["mapping"].items()
    ]
    first = min((m.created_at for m in messages if m.created_at), default=None)
    title = entry.get("title")
    current = entry.get("current_node")
    return Conversation(
        "chatgpt",
        key,
        title if isinstance(title, str) and title.strip() else None,
        started or first or "1970-01-01T00:00:00.000000Z",
        messages,
        current if isinstance(current, str) else None,
        where,
    )


def _message(node_id: str, node: Any, where: str) -> Message:
    if not isinstance(node, dict):
        raise ImportFormatError(f"{where}: not a node object")
    parent = node.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise ImportFormatError(f"{where}: parent is not a node id")
    message = node.get("message")
    if message is None:  # the tree's root, or a placeholder
        return Message(node_id, parent, "none", "", None)
    if not isinstance(message, dict):
        raise ImportFormatError(f"{where}: message is not an object")
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    metadata = message.get("metadata")
    hidden = isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation")
    # An assistant message to a tool (recipient "python", "browser"...) is a tool call.
    to_tool = message.get("recipient") not in (None, "all")
    if role not in ("user", "assistant") or hidden or to_tool:
        return Message(node_id, parent, "none", "", None)
    return Message(
        node_id, parent, role, _text(message.get("content"), where), iso(message.get("create_time"))
    )


def _text(content: Any, where: str) -> str:
    """The words of a message's content ("" for content that is not words)."""
    if not isinstance(content, dict):
        raise ImportFormatError(f"{where}: content is not an object")
    kind = content.get("content_type")
    if kind not in _TEXT_TYPES:
        return ""  # reasoning, browsing displays, tool output...
    if isinstance(content.get("text"), str) and "parts" not in content:
        return str(content["text"])
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise ImportFormatError(f"{where}: {kind} content without parts")
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("content_type") == "image_asset_pointer":
            texts.append("[image]")
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "\n".join(text for text in texts if text)
