"""Export and import of conversations: memchat JSONL, Markdown, and the SDK's SQLite.

``jsonl.py`` holds memchat's own format, ``markdown.py`` the readable one, ``sdk.py`` the
Agents SDK's database, and ``memchat/foreign/`` the exports of other chat apps;
``archive.py`` reads what an export holds out of a store, and ``reimport.py`` decides what
another app's export imported again adds to the sessions already there.

An import is checked whole before anything is written, then written in one transaction
(``Store.import_sessions``): a bad file imports nothing, and the error names the line.
"""

from __future__ import annotations

from pathlib import Path

from .. import foreign
from ..errors import ImportFormatError, SessionChanged
from ..store import Store
from .archive import Archive, session_records, user_facts
from .jsonl import FORMAT_VERSION, READABLE_VERSIONS, read_jsonl, write_jsonl
from .markdown import format_item_markdown, write_markdown
from .reimport import against_store
from .sdk import read_sdk_sqlite

__all__ = [
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "Archive",
    "format_item_markdown",
    "import_file",
    "is_sdk_database",
    "read_import",
    "read_jsonl",
    "read_sdk_sqlite",
    "session_records",
    "user_facts",
    "write_jsonl",
    "write_markdown",
]

_SQLITE_MAGIC = b"SQLite format 3\x00"
# How many times an import is decided again when a chat changed a session it continues.
_ATTEMPTS = 3


def is_sdk_database(path: Path) -> bool:
    """Whether ``path`` is a SQLite database (what ``read_import`` reads as the SDK's)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from exc


def read_import(
    path: Path,
    user: str | None,
    progress: foreign.Progress | None = None,
    *,
    name: str | None = None,
    max_bytes: int | None = None,
) -> Archive:
    """Read a memchat JSONL export, an SDK SQLite database, or a ChatGPT or Claude export.

    ``user`` names the owner for SDK databases and other apps' exports (which have no
    users) and, if given, overrides the owner of JSONL sessions. ``name`` is what errors
    call the file (default: its path); ``max_bytes`` caps what a ZIP unpacks to.
    """
    if is_sdk_database(path):
        if user is None:
            raise ImportFormatError("importing an SDK database needs --user (its owner)")
        return Archive(read_sdk_sqlite(path, user))
    if foreign.looks_foreign(path):
        if user is None:
            raise ImportFormatError("importing a ChatGPT or Claude export needs --user")
        return Archive(foreign.read(path, user, progress, name=name, max_bytes=max_bytes))
    return read_jsonl(path, user, name=name)


def import_file(
    store: Store,
    path: Path,
    user: str | None,
    *,
    learn: bool = False,
    progress: foreign.Progress | None = None,
    name: str | None = None,
    max_bytes: int | None = None,
) -> Archive:
    """Import a file into the store; all of it or (on any error) none of it.

    From another app's export, conversations an earlier import brought in get the turns
    they gained since, or are skipped (``reimport.py``; exports hold the whole history
    every time), and with ``learn`` the facts the user stated in what comes in are
    learned by memchat's rules. ``name`` is what errors and the learned facts' source
    call the file (default: its path, and its file name).
    """
    shown = name or str(path)
    read = read_import(path, user, progress, name=name, max_bytes=max_bytes)
    if not read.sessions and not read.facts:
        raise ImportFormatError(f"{shown} holds no sessions")
    from_app = any(r.metadata.get("imported_from") in foreign.SOURCES for r in read.sessions)
    for attempt in range(1, _ATTEMPTS + 1):
        archive = against_store(store, read.sessions) if from_app else Archive(read.sessions)
        archive.facts = list(read.facts)
        if learn:
            source = f"import: {name or path.name}"
            archive.facts += foreign.learned_facts(archive.sessions, source, archive.continued)
        try:
            store.import_sessions(archive.sessions, archive.facts, archive.continued)
        except SessionChanged:
            # A chat wrote a turn in a session to continue after it was read: decide again
            # (it is then skipped, no longer the start of the export's conversation).
            if attempt == _ATTEMPTS:
                raise
            continue
        return archive
    raise AssertionError("unreachable")  # pragma: no cover
