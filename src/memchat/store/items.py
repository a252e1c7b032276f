"""Items as the Agents SDK gives them: which starts a turn, which tool call an output
answers, and a flat list cut into turns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .records import Item


def is_user_message(item: Item) -> bool:
    """True for a user message item (the start of a turn)."""
    return (
        isinstance(item, dict)
        and item.get("role") == "user"
        and item.get("type")
        in (
            None,
            "message",
        )
    )


_OUTPUT_SUFFIX = "_output"


def call_id_of_output(item: Item) -> str | None:
    """The call id a tool output item answers, or None for any other item."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    call_id = item.get("call_id")
    if isinstance(kind, str) and kind.endswith(_OUTPUT_SUFFIX) and isinstance(call_id, str):
        return call_id
    return None


def call_id_of_call(item: Item) -> str | None:
    """The call id of a tool call item, or None for any other item."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    call_id = item.get("call_id")
    if isinstance(kind, str) and kind.endswith("_call") and isinstance(call_id, str):
        return call_id
    return None


def drop_orphan_outputs(items: list[Item]) -> list[Item]:
    """Drop tool outputs whose call is not in ``items``.

    A window cut by ``limit`` can start between a call and its output; models reject an
    output without its call (SDK issues #4322 and #4827), so such outputs are left out.
    """
    calls = {cid for item in items if (cid := call_id_of_call(item)) is not None}
    return [item for item in items if (cid := call_id_of_output(item)) is None or cid in calls]


def group_into_turns(items: Sequence[Item]) -> Iterator[list[Item]]:
    """Split a flat item list into turns, each starting at a user message."""
    turn: list[Item] = []
    for item in items:
        if is_user_message(item) and turn:
            yield turn
            turn = []
        turn.append(item)
    if turn:
        yield turn
