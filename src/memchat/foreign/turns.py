"""A foreign conversation as one memchat session: its turns, active line and branches.

memchat keeps a session as a tree of turns (``store/tree.py``), a turn being a user
message and the replies after it; another app keeps a tree of messages. So:

- Every path through the messages is cut into turns: a turn starts at a user message and
  holds the assistant messages that follow it. A regenerated reply makes a second turn
  with the same user message, as memchat's ``/retry`` does (it is an edit of the last
  turn, and the branch it leaves holds the whole old turn, the user's message included);
  an edited message is a second turn from there.
- The path the app showed last (ChatGPT's ``current_node``, Claude's latest message) is
  the active line. Every other path is a branch that forks after the last turn it shares
  with the line it leaves (0: it starts with an edit of the first message) and continues
  that line (its parent). Where a branch forks again it follows the path said last,
  as the app would show it, and the others are branches of it.
- Turns are numbered in the order they were said (by their latest message), a turn
  always after the one it follows; branch ids follow their first turns' numbers.

A turn is dated by its user message, a branch by its first turn.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, cast

from ..store.checks import check_name
from ..store.records import BranchRecord, Item, SessionRecord, Turn
from .thread import Conversation, Message, kept_messages, nearest_kept

# A turn of the tree: the ids of its first and last messages.
Key = tuple[str, str]


@dataclass
class _Node:
    """A turn of the conversation's tree of turns."""

    parent: Key | None
    messages: list[Message]
    said: str  # when its latest message was said
    order: int  # its place in the export, to break ties
    children: list[Key] = field(default_factory=list)
    latest: str = ""  # when the latest message of it or any turn after it was said


def to_record(conversation: Conversation, user: str) -> SessionRecord | None:
    """The conversation as a session of ``user`` (None if it holds no words)."""
    kept = kept_messages(conversation)
    nodes, roots = _cut(kept, conversation.created_at)
    if not roots:
        return None
    lines = _lines(nodes, roots, _current_turn(conversation, kept, nodes, roots))
    seqs = _numbered(nodes, roots)
    # Branch ids in the order their first turns were said, as memchat gives them.
    by_start = sorted(range(1, len(lines)), key=lambda line: seqs[lines[line][2][0]])
    ids = {0: 0} | {line: n for n, line in enumerate(by_start, 1)}

    def turns(keys: list[Key]) -> list[Turn]:
        return [_turn(seqs[key], nodes[key], conversation.created_at) for key in keys]

    branches = [
        BranchRecord(
            ids[line],
            ids[parent],
            0 if fork is None else seqs[fork],
            turns(keys)[0].created_at,
            turns(keys),
        )
        for line, (parent, fork, keys) in enumerate(lines)
        if line
    ]
    branches.sort(key=lambda branch: branch.id)
    metadata = {"imported_from": conversation.source, "original_id": conversation.id}
    session_id = check_name("session id", f"{conversation.source}-{conversation.id}"[:60])
    return SessionRecord(
        user,
        session_id,
        conversation.title,
        conversation.created_at,
        metadata,
        turns(lines[0][2]),
        branches=tuple(branches),
    )


def _cut(kept: dict[str, Message], started: str) -> tuple[dict[Key, _Node], list[Key]]:
    """Every turn of every path through the messages, and the first turns."""
    children: dict[str | None, list[Message]] = {}
    for message in kept.values():
        children.setdefault(message.parent, []).append(message)
    nodes: dict[Key, _Node] = {}
    roots: list[Key] = []
    # (message, the turn's messages before it, the turn before); a stack, not recursion,
    # since a conversation may be thousands of messages deep.
    stack: list[tuple[Message, list[Message], Key | None]] = [
        (m, [], None) for m in reversed(children.get(None, []))
    ]
    while stack:
        message, before, parent = stack.pop()
        held = [*before, message]
        after = children.get(message.id, [])
        pending: list[tuple[Message, list[Message], Key | None]] = []
        # A turn ends where the path ends or a user message follows.
        if not after or any(m.role == "user" for m in after):
            key = (held[0].id, message.id)
            said = max(m.created_at or started for m in held)
            nodes[key] = _Node(parent, held, said, len(nodes))
            (roots if parent is None else nodes[parent].children).append(key)
            pending += [(m, [], key) for m in after if m.role == "user"]
        pending += [(m, held, parent) for m in after if m.role != "user"]
        stack.extend(reversed(pending))
    # Children come after their parents in ``nodes``: fill ``latest`` from the end.
    for node in reversed(nodes.values()):
        node.latest = max([node.said, *(nodes[k].latest for k in node.children)])
    return nodes, roots


def _current_turn(
    conversation: Conversation, kept: dict[str, Message], nodes: dict[Key, _Node], roots: list[Key]
) -> Key:
    """The last turn of the path the app showed: the one holding its current message,
    followed to the end by the paths said last."""
    current = nearest_kept({m.id: m for m in conversation.messages}, conversation.current)
    holding = [key for key, node in nodes.items() if any(m.id == current for m in node.messages)]
    key = _latest(nodes, holding or roots)
    while nodes[key].children:
        key = _latest(nodes, nodes[key].children)
    return key


def _latest(nodes: dict[Key, _Node], keys: list[Key]) -> Key:
    return max(keys, key=lambda k: (nodes[k].latest, nodes[k].order))


def _lines(
    nodes: dict[Key, _Node], roots: list[Key], last: Key
) -> list[tuple[int, Key | None, list[Key]]]:
    """The active line (first), then each branch: (the line it continues, the turn it
    forks after or None for the start, its turns)."""
    active: list[Key] = []
    key: Key | None = last
    while key is not None:
        active.append(key)
        key = nodes[key].parent
    lines: list[tuple[int, Key | None, list[Key]]] = [(0, None, active[::-1])]
    for number, (_, _, keys) in enumerate(lines):  # grows as branches are found
        forks: list[tuple[Key | None, list[Key]]] = [(k, nodes[k].children) for k in keys]
        if number == 0:
            forks.insert(0, (None, roots))
        on_line = set(keys)
        for fork, following in forks:
            for start in following:
                if start in on_line:
                    continue
                branch = [start]
                while nodes[branch[-1]].children:
                    branch.append(_latest(nodes, nodes[branch[-1]].children))
                lines.append((number, fork, branch))
    return lines


def _numbered(nodes: dict[Key, _Node], roots: list[Key]) -> dict[Key, int]:
    """Each turn's seq: in the order said, a turn after the one it follows."""
    seqs: dict[Key, int] = {}
    ready = [(nodes[k].said, nodes[k].order, k) for k in roots]
    heapq.heapify(ready)
    while ready:
        _, _, key = heapq.heappop(ready)
        seqs[key] = len(seqs) + 1
        for child in nodes[key].children:
            heapq.heappush(ready, (nodes[child].said, nodes[child].order, child))
    return seqs


def _turn(seq: int, node: _Node, started: str) -> Turn:
    return Turn(seq, node.messages[0].created_at or started, [_item(m) for m in node.messages])


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
