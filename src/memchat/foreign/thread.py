"""Threads: another chat app's message tree as memchat sessions.

ChatGPT keeps a conversation as a tree: editing a message or regenerating a reply adds a
sibling, and ``current_node`` marks the end of the branch on screen. memchat's sessions
are linear, so the branch on screen becomes the session, and every other branch becomes a
session of its own holding only the messages after the point where it left the first
(``metadata``: ``branch_of`` the session, ``shared_messages``: how many messages of its
own path, from the first, it shares with sessions before it). No message is stored
twice, so recall never finds the same words in two places, and no message the export
shows is lost. Messages without text (system, tools, hidden context) are left out, and
what followed them follows the message before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from ..store.base import Item, SessionRecord, Turn, check_name


@dataclass(frozen=True)
class Message:
    """One message of a foreign conversation, as memchat keeps it."""

    id: str
    # The message it answers or follows; None for the first.
    parent: str | None
    role: str  # "user" or "assistant"; anything else is left out
    text: str
    # ISO 8601 UTC, or None when the export gives no time.
    created_at: str | None


@dataclass(frozen=True)
class Conversation:
    """A foreign conversation: its messages (a tree by ``parent``) and which leaf is current."""

    source: str  # "chatgpt" or "claude"
    id: str
    title: str | None
    created_at: str
    messages: Sequence[Message]
    current: str | None


def iso(stamp: object) -> str | None:
    """A Unix time (ChatGPT) or ISO text (Claude) as memchat's ISO 8601 UTC text."""
    if isinstance(stamp, bool) or stamp is None:
        return None
    try:
        if isinstance(stamp, int | float):
            when = datetime.fromtimestamp(stamp, UTC)
        elif isinstance(stamp, str) and stamp:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_records(conversation: Conversation, user: str) -> list[SessionRecord]:
    """The conversation as sessions of ``user``: its current branch, then each other one."""
    every = {m.id: m for m in conversation.messages}
    by_id = {
        m.id: replace(m, parent=_nearest_kept(every, m.parent))
        for m in conversation.messages
        if _has_text(m)
    }
    children: dict[str | None, list[Message]] = {}
    for message in by_id.values():
        children.setdefault(message.parent, []).append(message)
    leaves = [m for m in by_id.values() if m.id not in children]
    current = by_id.get(_nearest_kept(every, conversation.current) or "")
    current = current or (leaves[-1] if leaves else None)
    if current is None:
        return []
    # Walk to a leaf: a current node in the middle of the tree shows its first descendants.
    while current.id in children:
        current = children[current.id][0]
    base = check_name("session id", f"{conversation.source}-{conversation.id}"[:60])
    main = _path(current, by_id)
    records = [_record(conversation, user, base, main, {})]
    shown = {m.id for m in main}
    number = 1
    for leaf in (m for m in leaves if m.id not in shown):
        path = _path(leaf, by_id)
        start = next(i for i, m in enumerate(path) if m.id not in shown)
        suffix = path[start:]
        number += 1
        extra = {"branch_of": base, "shared_messages": start}
        records.append(_record(conversation, user, f"{base}-b{number}", suffix, extra))
        shown.update(m.id for m in suffix)
    return [record for record in records if record.turns]


def _nearest_kept(every: Mapping[str, Message], node: str | None) -> str | None:
    """``node`` or, if it is left out (no text), its nearest ancestor that is kept."""
    seen: set[str] = set()
    while node is not None and node in every and node not in seen:
        message = every[node]
        if _has_text(message):
            return node
        seen.add(node)
        node = message.parent
    return None


def _has_text(message: Message) -> bool:
    return message.role in ("user", "assistant") and bool(message.text.strip())


def _path(leaf: Message, by_id: Mapping[str, Message]) -> list[Message]:
    """The messages from the root to ``leaf``, in order."""
    path, seen = [], set()
    node: Message | None = leaf
    while node is not None and node.id not in seen:
        seen.add(node.id)
        path.append(node)
        node = by_id.get(node.parent or "")
    return path[::-1]


def _record(
    conversation: Conversation,
    user: str,
    session_id: str,
    messages: Sequence[Message],
    extra: dict[str, object],
) -> SessionRecord:
    turns: list[Turn] = []
    for message in messages:
        stamp = message.created_at or conversation.created_at
        if message.role == "user" or not turns:
            turns.append(Turn(len(turns) + 1, stamp, []))
        turns[-1].items.append(_item(message))
    metadata = {"imported_from": conversation.source, "original_id": conversation.id, **extra}
    title = conversation.title
    if extra and title:
        title = f"{title} (branch {session_id.rsplit('-b', 1)[-1]})"
    return SessionRecord(user, session_id, title, conversation.created_at, metadata, turns)


def _item(message: Message) -> Item:
    if message.role == "user":
        said: Item = {"role": "user", "content": message.text}
        return said
    reply: dict[str, Any] = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": message.text, "annotations": []}],
    }
    return cast(Item, reply)
