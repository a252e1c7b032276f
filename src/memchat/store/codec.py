"""How every backend turns items, sessions, facts and summaries into stored text and back.

With a cipher (``MEMCHAT_ENCRYPTION_KEY``, see ``crypto.py``) content is sealed on the
way in and opened on the way out; without one it is stored as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..errors import CorruptData, StoreError
from .crypto import Cipher, seal, unseal
from .records import Fact, FactRecord, Item, SessionInfo, Summary, Turn


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


def pack_item(cipher: Cipher | None, item: Item) -> str:
    """The text an item is stored as: its JSON, sealed if there is a cipher."""
    return seal(cipher, encode_item(item))


def unpack_item(cipher: Cipher | None, session: SessionInfo, item_id: int, data: str) -> Item:
    """The item stored as ``data``, opened if it is sealed (see ``crypto.unseal``)."""
    if not isinstance(data, str):  # a row written by something other than memchat
        return decode_item(session, item_id, data)
    return decode_item(session, item_id, unseal(cipher, data))


def seal_title(cipher: Cipher | None, title: str | None) -> str | None:
    """The text a session title is stored as (None, for no title, stays None)."""
    return None if title is None else seal(cipher, title)


def session_from_row(row: tuple[Any, ...], cipher: Cipher | None) -> SessionInfo:
    """A SessionInfo from (pk, user, key, title, created, updated, turns, metadata JSON[,
    project, scoped])."""
    pk, user, key, title, created, updated, turns, metadata, *project = row
    try:
        meta = json.loads(metadata)
    except (TypeError, ValueError) as exc:
        raise CorruptData(f"session {user}/{key}: metadata is not valid JSON") from exc
    if title is not None:
        title = unseal(cipher, title)
    name, scoped = project or ("", False)
    return SessionInfo(pk, user, key, title, created, updated, turns, meta, name, bool(scoped))


def fact_from_row(row: tuple[Any, ...], cipher: Cipher | None) -> Fact:
    """A Fact from (id, key, value, source, updated_at[, valid_from[, project]]); only the
    value is sealed."""
    fact_id, key, value, source, updated_at, *since = row
    return Fact(fact_id, key, unseal(cipher, value), source, updated_at, *since)


def summary_from_row(row: tuple[Any, ...], cipher: Cipher | None) -> Summary:
    """A Summary from (through_seq, text, updated_at)."""
    through_seq, text, updated_at = row
    return Summary(through_seq, unseal(cipher, text), updated_at)


def turns_from_rows(rows: Iterator[tuple[int, str, int, object]]) -> list[Turn]:
    """Group (seq, created_at, item id, item) rows, ordered by item, into turns."""
    turns: list[Turn] = []
    for seq, created_at, item_id, item in rows:
        if not turns or turns[-1].seq != seq:
            turns.append(Turn(seq, created_at, []))
        turns[-1].items.append(item)  # type: ignore[arg-type]
        turns[-1].item_ids.append(item_id)
    return turns


def fact_values(cipher: Cipher | None, fact: FactRecord) -> tuple[str, str, str, str, str, str]:
    """(project, key, sealed value, source, created_at, updated_at) of a fact to import."""
    value = seal(cipher, fact.value)
    return (fact.project, fact.key, value, fact.source, fact.updated_at, fact.updated_at)
