"""Threads: another chat app's conversation as the messages it holds, checked.

ChatGPT and Claude keep a conversation as a tree of messages, each naming the message it
follows: editing a message adds a sibling of it, regenerating a reply a sibling of the
reply, and the app shows one path through the tree (ChatGPT's ``current_node``). The
readers (``chatgpt.py``, ``claude.py``) turn an export into ``Conversation``s; ``turns.py``
makes each one memchat session with its branches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ..errors import ImportFormatError


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
    """A foreign conversation: its messages (a tree by ``parent``) and which is current."""

    source: str  # "chatgpt" or "claude"
    id: str
    title: str | None
    created_at: str
    messages: Sequence[Message]
    current: str | None
    # Where it is in the file, for errors ("conversations.json: conversation 3 (id)").
    where: str = ""


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


def kept_messages(conversation: Conversation) -> dict[str, Message]:
    """The messages with words, by id, each pointing to the nearest kept message before
    it (system and tool messages and hidden context are left out, and what followed them
    follows the message before).

    Raise ImportFormatError naming the message if an id is used twice, a parent is not in
    the conversation or a chain of parents goes round in a loop.
    """
    noun = "node" if conversation.source == "chatgpt" else "message"
    every: dict[str, Message] = {}
    for message in conversation.messages:
        if message.id in every:
            raise ImportFormatError(f"{conversation.where}, {noun} {message.id}: its id twice")
        every[message.id] = message
    rooted: set[str] = set()
    for message in conversation.messages:
        chain: dict[str, None] = {}  # in order, and a set
        node: str | None = message.id
        while node is not None and node not in rooted:
            if node in chain:
                raise ImportFormatError(
                    f"{conversation.where}, {noun} {node}: its parents go round in a loop"
                )
            if node not in every:
                raise ImportFormatError(
                    f"{conversation.where}, {noun} {next(reversed(chain))}: its parent"
                    f" {node!r} is not in the conversation"
                )
            chain[node] = None
            node = every[node].parent
        rooted.update(chain)
    return {
        m.id: replace(m, parent=nearest_kept(every, m.parent))
        for m in conversation.messages
        if has_text(m)
    }


def nearest_kept(every: Mapping[str, Message], node: str | None) -> str | None:
    """``node`` or, if it is left out (no text), its nearest ancestor that is kept."""
    while node is not None and node in every:
        message = every[node]
        if has_text(message):
            return node
        node = message.parent
    return None


def has_text(message: Message) -> bool:
    """Whether memchat keeps the message: the user's or the assistant's, with words."""
    return message.role in ("user", "assistant") and bool(message.text.strip())
