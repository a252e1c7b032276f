"""memchat's JSONL export format: written from records, read back checked line by line.

The format is one JSON object per line: a header, then per session a ``session`` line
followed by its ``turn`` lines and its running summary if it has one; then the facts of
the user whose sessions these are (a whole user's export only)::

    {"type": "memchat-export", "version": 2}
    {"type": "session", "user": "sara", "id": "default", "title": "...", "created_at": "...",
     "project": "thesis", "scoped": true}
    {"type": "turn", "created_at": "...", "items": [{"role": "user", "content": "..."}, ...]}
    {"type": "turn", "created_at": "...", "items": [...], "hidden": [0], "usage": {...}}
    {"type": "summary", "through_seq": 1, "text": "...", "updated_at": "..."}
    {"type": "fact", "user": "sara", "key": "name", "value": "Sara", "source": "...", ...}
    {"type": "end", "sessions": 1, "turns": 1, "facts": 1}

A turn's ``hidden`` lists the indexes of its items kept out of recall (they stated a fact
the user asked to forget, see ``memory/forget.py``); its ``usage``, where the turn has one,
what it cost (``store/usage.py``: model, tokens, times). The end line, with the counts,
tells a whole file from one cut short. Version 1 files (no summaries, no facts) still import.
A session in a project names it (``project``, and ``scoped`` if its memory is); a fact of
a scoped project names it (``project``); both are left out where there is none.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TextIO

from ..errors import ImportFormatError, MemchatError
from ..store import Turn
from ..store.checks import check_name, check_project
from ..store.records import BranchRecord, FactRecord, SessionRecord, Summary, now
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
        head: dict[str, Any] = {
            "type": "session",
            "user": record.user,
            "id": record.id,
            "title": record.title,
            "created_at": record.created_at,
            "metadata": record.metadata,
        }
        if record.project:
            head |= {"project": record.project, "scoped": record.scoped}
        out.write(json.dumps(head, ensure_ascii=False) + "\n")
        # Every turn, active or not, in the order said; numbered by its place in the file.
        every = sorted(
            [(turn, 0) for turn in record.turns]
            + [(turn, branch.id) for branch in record.branches for turn in branch.turns],
            key=lambda entry: entry[0].seq,
        )
        seqs = [turn.seq for turn, _ in every]
        for turn, on in every:
            line: dict[str, Any] = {
                "type": "turn",
                "created_at": turn.created_at,
                "items": turn.items,
            }
            if hidden := [index for seq, index in record.hidden if seq == turn.seq]:
                line["hidden"] = hidden  # kept out of recall (memory/forget.py)
            if on:
                line["branch"] = on
            if turn.usage is not None:
                line["usage"] = turn.usage.to_json()
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            turns += 1
        for placed in record.branches:
            at = bisect.bisect_right(seqs, placed.fork_seq)
            mark = {"type": "branch", "id": placed.id, "parent": placed.parent, "after": at}
            out.write(json.dumps({**mark, "created_at": placed.created_at}) + "\n")
        if record.summary is not None:
            through = bisect.bisect_right(seqs, record.summary.through_seq)
            summary = replace(record.summary, through_seq=through)
            out.write(json.dumps({"type": "summary", **asdict(summary)}) + "\n")
        count += 1
    for fact in facts:
        line = {"type": "fact", **asdict(fact)}
        if not fact.project:
            line.pop("project")  # user-wide, as every fact was before projects
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    # The end line lets an import tell a whole file from one cut short at a line's end.
    end = {"type": "end", "sessions": count, "turns": turns, "facts": len(facts)}
    out.write(json.dumps(end) + "\n")
    return count


def read_jsonl(path: Path, user: str | None = None, *, name: str | None = None) -> Archive:
    """Parse and check a memchat JSONL export; raise ImportFormatError naming the line.

    ``name`` is what errors call the file (default: its path).
    """
    shown = name or str(path)
    records: list[SessionRecord] = []
    facts: list[FactRecord] = []
    seen: dict[tuple[str, str], int] = {}
    # The current session's turn lines so far, and its branches' turns not yet placed.
    numbered = 0
    off_line: dict[int, list[Turn]] = {}
    try:
        # Only "\n" ends a line: JSON strings may hold U+2028 and others that splitlines()
        # would also split on.
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"cannot read {shown}: {exc}") from exc
    if not lines:
        raise ImportFormatError(f"{shown} is empty")
    ended = False
    for number, line in enumerate(lines, 1):
        where = f"{shown}:{number}"
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
        if kind in ("session", "end") and off_line:
            raise ImportFormatError(f"{where}: turns on branch {min(off_line)}, which no branch"
                                    " line placed")  # fmt: skip
        if kind == "session":
            numbered = 0
            try:
                owner = check_name("user name", user or entry["user"])
                key = check_name("session id", entry["id"])
                project = check_project(entry.get("project") or "") or ""
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
                    project=project,
                    scoped=bool(project and entry.get("scoped") is True),
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
            branch = entry.get("branch", 0)
            if not isinstance(branch, int) or branch < 0:
                raise ImportFormatError(f"{where}: a turn's branch must be a number")
            try:
                usage = None if entry.get("usage") is None else TurnUsage.from_json(entry["usage"])
            except MemchatError as exc:
                raise ImportFormatError(f"{where}: {exc}") from exc
            numbered += 1
            turn = Turn(numbered, str(entry.get("created_at") or now()), items, usage=usage)
            (off_line.setdefault(branch, []) if branch else records[-1].turns).append(turn)
            hidden = entry.get("hidden", [])
            if not isinstance(hidden, list) or not all(
                isinstance(i, int) and 0 <= i < len(items) for i in hidden
            ):
                raise ImportFormatError(f"{where}: hidden must list indexes of the turn's items")
            if hidden:
                record = records[-1]
                marks = tuple((numbered, index) for index in hidden)
                records[-1] = replace(record, hidden=record.hidden + marks)
        elif kind == "summary":
            if not records:
                raise ImportFormatError(f"{where}: a summary before any session line")
            record = records[-1]
            through, text = entry.get("through_seq"), entry.get("text")
            if not isinstance(text, str) or not isinstance(through, int):
                raise ImportFormatError(f"{where}: a summary needs through_seq and text")
            if not 1 <= through <= numbered or record.summary is not None:
                raise ImportFormatError(
                    f"{where}: a summary of turns up to {through} for a session of"
                    f" {numbered} turns (or a second summary)"
                )
            summary = Summary(through, text, str(entry.get("updated_at") or now()))
            records[-1] = replace(record, summary=summary)
        elif kind == "branch":
            if not records:
                raise ImportFormatError(f"{where}: a branch before any session line")
            records[-1] = _placed(records[-1], entry, off_line, numbered, where)
        elif kind == "fact":
            facts.append(_fact(entry, user, where))
        elif kind == "end":
            every = sum(len(r.turns) + sum(len(b.turns) for b in r.branches) for r in records)
            counts = (len(records), every, len(facts))
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
        raise ImportFormatError(f"{shown}: no end line: the file is cut short (or not an export)")
    return Archive(records, facts)


def _placed(
    record: SessionRecord,
    entry: dict[str, Any],
    off_line: dict[int, list[Turn]],
    said: int,
    where: str,
) -> SessionRecord:
    """``record`` with the branch a branch line describes, made of its turns read so far
    (taken out of ``off_line``); ImportFormatError if the line is bad."""
    branch, parent, after = entry.get("id"), entry.get("parent", 0), entry.get("after")
    if not (
        isinstance(branch, int)
        and isinstance(parent, int)
        and isinstance(after, int)
        and 0 <= after <= said
    ):
        raise ImportFormatError(f"{where}: a branch needs an id, a parent and the turn it is after")
    if branch not in off_line:
        raise ImportFormatError(f"{where}: branch {branch} has no turns before its branch line")
    created_at = str(entry.get("created_at") or now())
    placed = BranchRecord(branch, parent, after, created_at, off_line.pop(branch))
    return replace(record, branches=(*record.branches, placed))


def _fact(entry: dict[str, Any], user: str | None, where: str) -> FactRecord:
    """A fact line's fact (owned by ``user`` if given); ImportFormatError if it is bad."""
    fields = [entry.get(name) for name in ("key", "value", "source", "updated_at")]
    if not all(isinstance(value, str) and value for value in fields[:2]):
        raise ImportFormatError(f"{where}: a fact needs a key and a value")
    try:
        owner = check_name("user name", user or entry.get("user") or "")
        project = check_project(entry.get("project") or "") or ""
    except MemchatError as exc:
        raise ImportFormatError(f"{where}: bad fact line ({exc})") from exc
    key, value, source, updated_at = (str(value or "") for value in fields)
    return FactRecord(owner, key, value, source or "import", updated_at or now(), project)
