"""Histories from other chat apps: ChatGPT's and Claude's data exports.

Both arrive as a ZIP holding ``conversations.json`` (either is accepted, or the JSON file
itself). ``read`` turns them into session records for ``Store.import_sessions``; the
format is told from the JSON, not the file name. A bad file raises ImportFormatError
naming the conversation and the node or message, and nothing is imported.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ImportFormatError, ImportTooLarge
from ..memory.facts import extract_facts, normalize_key
from ..store.base import FactRecord, SessionRecord, Turn, check_name
from ..store.continuation import Continuation
from ..store.titles import message_text
from . import chatgpt, claude
from .thread import Conversation
from .turns import to_record

# Called after each conversation is read: (done, total).
Progress = Callable[[int, int], None]

# What ``metadata["imported_from"]`` says of a session from each app.
SOURCES = ("chatgpt", "claude")
_ZIP_MAGIC = b"PK\x03\x04"
_MEMBER = "conversations.json"


def looks_foreign(path: Path) -> bool:
    """Whether ``path`` may be another app's export (a ZIP, or a JSON list)."""
    try:
        with path.open("rb") as handle:
            start = handle.read(64)
    except OSError:
        return False
    return start.startswith(_ZIP_MAGIC) or start.lstrip().startswith(b"[")


def read(
    path: Path,
    user: str,
    progress: Progress | None = None,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
) -> list[SessionRecord]:
    """The sessions of a ChatGPT or Claude export, as ``user``'s.

    ``name`` is what errors call the file (default: its path); ``max_bytes`` caps the
    size of the conversations.json a ZIP holds (ImportTooLarge).
    """
    check_name("user name", user)
    data, where = _load(path, name or str(path), max_bytes)
    if chatgpt.is_chatgpt(data):
        found = chatgpt.conversations(data, where)
    elif claude.is_claude(data):
        found = claude.conversations(data, where)
    elif data == []:
        found = []
    else:
        raise ImportFormatError(
            f"{where}: not a ChatGPT or Claude export (no conversation has a 'mapping' or"
            " 'chat_messages')"
        )
    return _records(found, user, progress)


def learned_facts(
    records: Sequence[SessionRecord], source: str, continued: Sequence[Continuation] = ()
) -> list[FactRecord]:
    """Facts the user stated in ``records`` and in the turns ``continued`` adds to stored
    sessions (memchat's rules), the latest of each key.

    Turns on branches count too: the user said them, as a fact learned in a chat stays
    when an edit moves its turn to a branch; a later statement (an edit) wins.
    """
    said: list[tuple[str, list[Turn]]] = [
        (r.user, [*r.turns, *(turn for branch in r.branches for turn in branch.turns)])
        for r in records
    ]
    said += [(c.session.user, c.turns) for c in continued]
    latest: dict[tuple[str, str], FactRecord] = {}
    for user, turns in said:
        for turn in turns:
            for item in turn.items:
                message = message_text(item)
                if message is None or message[0] != "user":
                    continue
                for key, value in extract_facts(message[1]):
                    key = normalize_key(key)
                    fact = FactRecord(user, key, value, source, turn.created_at)
                    if (user, key) not in latest or latest[user, key].updated_at <= fact.updated_at:
                        latest[user, key] = fact
    return list(latest.values())


def _load(path: Path, shown: str, max_bytes: int | None) -> tuple[Any, str]:
    """The parsed JSON of the file, or of the conversations.json inside a ZIP."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == _MEMBER]
                if not names:
                    raise ImportFormatError(f"{shown}: a ZIP without {_MEMBER}")
                member = archive.getinfo(min(names, key=len))
                where = f"{shown}!{member.filename}"
                raw = _unpacked(archive, member, where, max_bytes)
        else:
            raw, where = path.read_bytes(), shown
        return json.loads(raw), where
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImportFormatError(f"cannot read {shown}: {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"{shown}: not valid JSON ({exc})") from exc


def _unpacked(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, where: str, max_bytes: int | None
) -> bytes:
    """The bytes of ``member``; ImportTooLarge past ``max_bytes``.

    A small ZIP can unpack to gigabytes. The size the ZIP declares says so at once; as it
    may lie, the reading too stops one byte past the limit (zipfile unpacks no more than
    it is asked for).
    """
    if max_bytes is None:
        return archive.read(member)
    too_large = ImportTooLarge(f"{where}: over the limit of {max_bytes:,} bytes once unpacked")
    if member.file_size > max_bytes:
        raise too_large
    with archive.open(member) as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise too_large
    return raw


def _records(
    found: Sequence[Conversation], user: str, progress: Progress | None
) -> list[SessionRecord]:
    records: list[SessionRecord] = []
    seen: set[str] = set()
    for done, conversation in enumerate(found, 1):
        record = to_record(conversation, user)
        if record is not None:
            if record.id in seen:
                raise ImportFormatError(f"{conversation.where}: this conversation appears twice")
            seen.add(record.id)
            records.append(record)
        if progress is not None:
            progress(done, len(found))
    return records
