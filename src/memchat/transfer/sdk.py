"""The Agents SDK's ``SQLiteSession`` database, read as memchat sessions to import."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError
from ..store import Turn
from ..store.checks import check_name
from ..store.items import group_into_turns
from ..store.records import SessionRecord
from ..store.titles import title_from_items


def read_sdk_sqlite(path: Path, user: str) -> list[SessionRecord]:
    """Read the Agents SDK ``SQLiteSession`` tables (agent_sessions, agent_messages)."""
    check_name("user name", user)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFormatError(f"cannot open {path}: {exc}") from exc
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "agent_messages" not in tables:
            raise ImportFormatError(
                f"{path} has no agent_messages table: not an Agents SDK session database"
            )
        started = dict(conn.execute("SELECT session_id, created_at FROM agent_sessions"))
        rows = conn.execute(
            "SELECT id, session_id, message_data, created_at FROM agent_messages ORDER BY id"
        ).fetchall()
    except sqlite3.Error as exc:
        raise ImportFormatError(f"cannot read {path}: {exc}") from exc
    finally:
        conn.close()
    by_session: dict[str, list[tuple[Any, str]]] = {}
    for row_id, session_id, data, created_at in rows:
        try:
            item = json.loads(data)
        except (TypeError, ValueError) as exc:
            raise ImportFormatError(
                f"{path}: agent_messages row {row_id} is not valid JSON ({exc})"
            ) from exc
        if not isinstance(item, dict):
            raise ImportFormatError(f"{path}: agent_messages row {row_id} is not a JSON object")
        by_session.setdefault(str(session_id), []).append((item, str(created_at)))
    records = []
    for session_id, entries in by_session.items():
        items = [item for item, _ in entries]
        stamps = iter(_iso(stamp) for _, stamp in entries)
        turns = []
        for seq, turn_items in enumerate(group_into_turns(items), 1):
            stamp = next(stamps)
            for _ in turn_items[1:]:
                next(stamps)
            turns.append(Turn(seq, stamp, turn_items))
        records.append(
            SessionRecord(
                user,
                _safe_session_id(session_id),
                title_from_items(items),
                _iso(str(started.get(session_id) or entries[0][1])),
                {"imported_from": str(path), "sdk_session_id": session_id},
                turns,
            )
        )
    return records


def _iso(sqlite_stamp: str) -> str:
    """SQLite's CURRENT_TIMESTAMP text (UTC, "YYYY-MM-DD HH:MM:SS") as memchat's ISO form."""
    return sqlite_stamp.replace(" ", "T") + "Z" if " " in sqlite_stamp else sqlite_stamp


def _safe_session_id(raw: str) -> str:
    cleaned = re.sub(r"[^\w.@+-]", "-", raw)[:64]
    return cleaned or "imported"
