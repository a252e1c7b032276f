"""memchat's JSONL export format: written from records, read back checked line by line.

The format is one JSON object per line: a header, then per session a ``session`` line
followed by its ``turn`` lines and its running summary if it has one; then the facts of
the user whose sessions these are (a whole user's export only)::

    {"type": "memchat-export", "version": 2}
    {"type": "session", "user": "sara", "id": "default", "title": "...", "created_at": "..."}
    {"type": "turn", "created_at": "...", "items": [{"role": "user", "content": "..."}, ...]}
    {"type": "turn", "created_at": "...", "items": [...], "hidden": [0], "usage": {...}}
    {"type": "summary", "through_seq": 1, "text": "...", "updated_at": "..."}
    {"type": "fact", "user": "sara", "key": "name", "value": "Sara", "source": "...", ...}
    {"type": "end", "sessions": 1, "turns": 1, "facts": 1}

A turn's ``hidden`` lists the indexes of its items kept out of recall (they stated a fact
the user asked to forget, see ``memory/forget.py``); its ``usage``, where the turn has one,
what it cost (``store/usage.py``: model, tokens, times). The end line, with the counts,
tells a whole file from one cut short. Version 1 files (no summaries, no facts) still import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TextIO

from ..errors import ImportFormatError, MemchatError
from ..store import Turn
from ..store.checks import check_name
from ..store.records import FactRecord, SessionRecord, Summary, now
from ..store.usage import TurnUsage
from .archive import Archive

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def write_jsonl(
    records: Iterable[SessionRecord], out: TextIO, facts: Sequence[FactRecord] = ()
) -> int:
    """Write records and facts as memchat JSONL; return the number of sessions written."""
    out.write(json.dumps({"type": "memchat-export", "version": FORMAT_VERSION}) + "\n")
    count = turns = 0
    for record in records:
        head = {
            "type": "session",
            "user": record.user,
            "id": record.id,
            "title": record.title,
            "created_at": record.created_at,
            "metadata": record.metadata,
        }
        out.write(json.dumps(head, ensure_ascii=False) + "\n")
        for turn in record.turns:
            line: dict[str, Any] = {
                "type": "turn",
                "created_at": turn.created_at,
                "items": turn.items,
            }
            if hidden := [index for seq, index in record.hidden if seq == turn.seq]:
                line["hidden"] = hidden  # kept out of recall (memory/forget.py)
            if turn.usage is not None:
                line["usage"] = turn.usage.to_json()
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            turns += 1
        if record.summary is not None:
            out.write(json.dumps({"type": "summary", **asdict(record.summary)}) + "\n")
        count += 1
    for fact in facts:
        out.write(json.dumps({"type": "fact", **asdict(fact)}, ensure_ascii=False) + "\n")
    # The end line lets an import tell a whole file from one cut short at a line's end.
    end = {"type": "end", "sessions": count, "turns": turns, "facts": len(facts)}
    out.write(json.dumps(end) + "\n")
    return count


def read_jsonl(path: Path, user: str | None = None) -> Archive:
    """Parse and check a memchat JSONL export; raise ImportFormatError naming the line."""
    records: list[SessionRecord] = []
    facts: list[FactRecord] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        # Only "\n" ends a line: JSON strings may hold U+2028 and others that splitlines()
        # would also split on.
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"cannot read {path}: {exc}") from exc
    if not lines:
        raise ImportFormatError(f"{path} is empty")
    ended = False
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        if not line.strip():
            continue
        if ended:
            raise ImportFormatError(f"{where}: a line after the end line")
        try:
            entry = json.loads(line)
            # Lone surrogates (from \ud800-style escapes) cannot be stored as text.
            line.encode("utf-8")
            json.dumps(entry, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError) as exc:
            raise ImportFormatError(f"{where}: not valid JSON text ({exc})") from exc
        if not isinstance(entry, dict):
            raise ImportFormatError(f"{where}: expected a JSON object")
        kind = entry.get("type")
        if number == 1:
            if kind != "memchat-export":
                raise ImportFormatError(f"{where}: not a memchat export (no header line)")
            if entry.get("version") not in READABLE_VERSIONS:
                raise ImportFormatError(f"{where}: unsupported version {entry.get('version')!r}")
            continue
        if kind == "session":
            try:
                owner = check_name("user name", user or entry["user"])
                key = check_name("session id", entry["id"])
            except (KeyError, MemchatError) as exc:
                raise ImportFormatError(f"{where}: bad session line ({exc})") from exc
            if (owner, key) in seen:
                raise ImportFormatError(
                    f"{where}: session {owner}/{key} already appeared on line {seen[owner, key]}"
                )
            seen[owner, key] = number
            title = entry.get("title")
            metadata = entry.get("metadata")
            records.append(
                SessionRecord(
                    owner,
                    key,
                    title if isinstance(title, str) else None,
                    str(entry.get("created_at") or now()),
                    metadata if isinstance(metadata, dict) else {},
                    [],
                )
            )
        elif kind == "turn":
            if not records:
                raise ImportFormatError(f"{where}: a turn before any session line")
            items = entry.get("items")
            if (
                not isinstance(items, list)
                or not items
                or not all(isinstance(i, dict) for i in items)
            ):
                raise ImportFormatError(f"{where}: a turn needs a non-empty list of item objects")
            try:
                usage = None if entry.get("usage") is None else TurnUsage.from_json(entry["usage"])
            except MemchatError as exc:
                raise ImportFormatError(f"{where}: {exc}") from exc
            turns = records[-1].turns
            stamp = str(entry.get("created_at") or now())
            turns.append(Turn(len(turns) + 1, stamp, items, usage=usage))
            hidden = entry.get("hidden", [])
            if not isinstance(hidden, list) or not all(
                isinstance(i, int) and 0 <= i < len(items) for i in hidden
            ):
                raise ImportFormatError(f"{where}: hidden must list indexes of the turn's items")
            if hidden:
                record = records[-1]
                marks = tuple((len(turns), index) for index in hidden)
                records[-1] = replace(record, hidden=record.hidden + marks)
        elif kind == "summary":
            if not records:
                raise ImportFormatError(f"{where}: a summary before any session line")
            record = records[-1]
            through, text = entry.get("through_seq"), entry.get("text")
            if not isinstance(text, str) or not isinstance(through, int):
                raise ImportFormatError(f"{where}: a summary needs through_seq and text")
            if not 1 <= through <= len(record.turns) or record.summary is not None:
                raise ImportFormatError(
                    f"{where}: a summary of turns up to {through} for a session of"
                    f" {len(record.turns)} turns (or a second summary)"
                )
            summary = Summary(through, text, str(entry.get("updated_at") or now()))
            records[-1] = replace(record, summary=summary)
        elif kind == "fact":
            facts.append(_fact(entry, user, where))
        elif kind == "end":
            counts = (len(records), sum(len(r.turns) for r in records), len(facts))
            said = (entry.get("sessions"), entry.get("turns"), entry.get("facts", 0))
            if said != counts:
                raise ImportFormatError(
                    f"{where}: the end line counts {said[0]} sessions, {said[1]} turns and"
                    f" {said[2]} facts; the file holds {counts[0]}, {counts[1]} and {counts[2]}"
                )
            ended = True
        else:
            raise ImportFormatError(f"{where}: unknown line type {kind!r}")
    if not ended:
        raise ImportFormatError(f"{path}: no end line: the file is cut short (or not an export)")
    return Archive(records, facts)


def _fact(entry: dict[str, Any], user: str | None, where: str) -> FactRecord:
    """A fact line's fact (owned by ``user`` if given); ImportFormatError if it is bad."""
    fields = [entry.get(name) for name in ("key", "value", "source", "updated_at")]
    if not all(isinstance(value, str) and value for value in fields[:2]):
        raise ImportFormatError(f"{where}: a fact needs a key and a value")
    try:
        owner = check_name("user name", user or entry.get("user") or "")
    except MemchatError as exc:
        raise ImportFormatError(f"{where}: bad fact line ({exc})") from exc
    key, value, source, updated_at = (str(value or "") for value in fields)
    return FactRecord(owner, key, value, source or "import", updated_at or now())
