"""Export and import of conversations: memchat JSONL, Markdown, and the SDK's SQLite.

The JSONL format is one JSON object per line: a header, then per session a ``session``
line followed by its ``turn`` lines and its running summary if it has one; then the
facts of the user whose sessions these are (a whole user's export only)::

    {"type": "memchat-export", "version": 2}
    {"type": "session", "user": "sara", "id": "default", "title": "...", "created_at": "..."}
    {"type": "turn", "created_at": "...", "items": [{"role": "user", "content": "..."}, ...]}
    {"type": "turn", "created_at": "...", "items": [...], "hidden": [0], "usage": {...}}
    {"type": "summary", "through_seq": 1, "text": "...", "updated_at": "..."}
    {"type": "fact", "user": "sara", "key": "name", "value": "Sara", "source": "...", ...}
    {"type": "end", "sessions": 1, "turns": 1, "facts": 1}

A turn's ``hidden`` lists the indexes of its items kept out of recall (they stated a fact
the user asked to forget, see ``memory/forget.py``); its ``usage``, where the turn has one,
what it cost (``store/usage.py``: model, tokens, times). The end line, with the counts, tells
a whole file from one cut short. Version 1 files (no summaries, no facts) still import.

An import is checked whole before anything is written, then written in one transaction:
a bad file imports nothing, and the error names the line.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from . import foreign
from .errors import ImportFormatError, MemchatError
from .store import SessionInfo, Store, Turn
from .store.base import (
    FactRecord,
    SessionRecord,
    Summary,
    check_name,
    group_into_turns,
    now,
)
from .store.titles import item_text, title_from_items
from .store.usage import TurnUsage

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass
class Archive:
    """What an export holds: sessions, and the facts of the user they were exported for."""

    sessions: list[SessionRecord]
    facts: list[FactRecord] = field(default_factory=list)
    # Sessions of another app's export that an earlier import already brought in.
    skipped: int = 0

    @property
    def turns(self) -> int:
        return sum(len(record.turns) for record in self.sessions)


_SQLITE_MAGIC = b"SQLite format 3\x00"


def session_records(store: Store, sessions: Iterable[SessionInfo]) -> Iterator[SessionRecord]:
    """The full records of ``sessions`` (with their summaries, and which of their items
    are kept out of recall), one at a time."""
    hidden_of: dict[str, set[int]] = {}
    for info in sessions:
        usage = store.turn_usage(info)
        turns = [replace(turn, usage=usage.get(turn.seq)) for turn in store.get_turns(info)]
        summary = store.get_summary(info)
        if info.user not in hidden_of:
            hidden_of[info.user] = store.hidden_from_recall(info.user)
        hidden = tuple(
            (turn.seq, index)
            for turn in turns
            for index, item_id in enumerate(turn.item_ids)
            if item_id in hidden_of[info.user]
        )
        yield SessionRecord(
            info.user, info.id, info.title, info.created_at, info.metadata, turns, summary, hidden
        )


def user_facts(store: Store, user: str) -> list[FactRecord]:
    """The user's facts, for an export of all their sessions."""
    return [
        FactRecord(user, fact.key, fact.value, fact.source, fact.updated_at)
        for fact in store.list_facts(user)
    ]


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


def write_markdown(
    records: Iterable[SessionRecord], out: TextIO, facts: Sequence[FactRecord] = ()
) -> int:
    """Write records (after the facts) as readable Markdown; return the sessions written."""
    if facts:
        out.write(f"# What memchat remembers about {facts[0].user}\n\n")
        out.writelines(f"- **{fact.key}:** {fact.value}\n" for fact in facts)
        out.write("\n---\n\n")
    count = 0
    for record in records:
        if count:
            out.write("\n---\n\n")
        out.write(f"# {record.title or record.id}\n\n")
        out.write(f"*{record.user} / {record.id}, started {record.created_at}*\n\n")
        for turn in record.turns:
            for item in turn.items:
                out.write(format_item_markdown(item) + "\n\n")
        count += 1
    return count


def format_item_markdown(item: Any) -> str:
    """One item as Markdown: a message with its speaker, or a tool call or its output."""
    kind = item.get("type", "message")
    if kind == "message" or "role" in item:
        return f"**{item.get('role', '?')}:** {item_text(item)}"
    if kind == "function_call":
        return f"*tool call* `{item.get('name')}({item.get('arguments', '')})`"
    if kind == "function_call_output":
        return f"*tool output:* {item.get('output', '')}"
    return f"*{kind}*"


def read_import(path: Path, user: str | None, progress: foreign.Progress | None = None) -> Archive:
    """Read a memchat JSONL export, an SDK SQLite database, or a ChatGPT or Claude export.

    ``user`` names the owner for SDK databases and other apps' exports (which have no
    users) and, if given, overrides the owner of JSONL sessions.
    """
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from exc
    if magic == _SQLITE_MAGIC:
        if user is None:
            raise ImportFormatError("importing an SDK database needs --user (its owner)")
        return Archive(read_sdk_sqlite(path, user))
    if foreign.looks_foreign(path):
        if user is None:
            raise ImportFormatError("importing a ChatGPT or Claude export needs --user")
        return Archive(foreign.read(path, user, progress))
    return read_jsonl(path, user)


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


def import_file(
    store: Store,
    path: Path,
    user: str | None,
    *,
    learn: bool = False,
    progress: foreign.Progress | None = None,
) -> Archive:
    """Import a file into the store; all of it or (on any error) none of it.

    From another app's export, conversations an earlier import brought in are skipped
    (exports hold the whole history every time), and with ``learn`` the facts the user
    stated in them are learned by memchat's rules.
    """
    archive = read_import(path, user, progress)
    if not archive.sessions and not archive.facts:
        raise ImportFormatError(f"{path} holds no sessions")
    if any(r.metadata.get("imported_from") in foreign.SOURCES for r in archive.sessions):
        new = [r for r in archive.sessions if store.find_session(r.user, r.id) is None]
        archive = Archive(new, archive.facts, len(archive.sessions) - len(new))
    if learn:
        archive.facts.extend(foreign.learned_facts(archive.sessions, f"import: {path.name}"))
    store.import_sessions(archive.sessions, archive.facts)
    return archive
