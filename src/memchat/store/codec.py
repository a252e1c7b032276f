"""How every backend turns items and session rows into stored text and back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import CorruptData, StoreError
from .base import Item, SessionInfo, Turn


def encode_item(item: Item) -> str:
    """The compact JSON text an item is stored as."""
    try:
        text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store item: it is not JSON-serializable ({exc})") from exc
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: what Python makes of invalid UTF-8 bytes in argv or stdin.
        raise StoreError("cannot store item: its text is not valid UTF-8") from None
    return text


def decode_item(session: SessionInfo, item_id: int, data: str) -> Item:
    """The item stored as ``data``; CorruptData (naming it) if that is not a JSON object."""
    try:
        item = json.loads(data)
    except (TypeError, ValueError) as exc:
        raise CorruptData(
            f"session {session.user}/{session.id}: item {item_id} is corrupt ({exc})"
        ) from exc
    if not isinstance(item, dict):
        raise CorruptData(
            f"session {session.user}/{session.id}: item {item_id} is not a JSON object"
        )
    return item  # type: ignore[return-value]


def session_from_row(row: tuple[Any, ...]) -> SessionInfo:
    """A SessionInfo from (pk, user, key, title, created, updated, turns, metadata JSON)."""
    pk, user, key, title, created, updated, turns, metadata = row
    try:
        meta = json.loads(metadata)
    except (TypeError, ValueError) as exc:
        raise CorruptData(f"session {user}/{key}: metadata is not valid JSON") from exc
    return SessionInfo(pk, user, key, title, created, updated, turns, meta)


def turns_from_rows(rows: Iterator[tuple[int, str, object]]) -> list[Turn]:
    """Group (seq, created_at, item) rows, ordered by item, into turns."""
    turns: list[Turn] = []
    for seq, created_at, item in rows:
        if not turns or turns[-1].seq != seq:
            turns.append(Turn(seq, created_at, []))
        turns[-1].items.append(item)  # type: ignore[arg-type]
    return turns
