"""The receipt of a forgetting: what was removed, and where the forgotten text remains.

:func:`forget_with_receipt` runs a deletion and then checks it: it counts each table's
rows before and after, scrubs the store (``store/sqlite/scrub.py``,
``store/postgres/scrub.py``: what a delete alone leaves in a search index, a write-ahead
log or dead rows), and looks for the distinctive words of the forgotten text
(``store/residue.py``: words of at least eight letters or digits, ignoring case):

1. in everything the store still holds, read through the store as any caller would
   (decrypted, on an encrypted store): user names, facts, session titles, summaries and
   messages. A word found there was also said in text that is kept (the same word in
   another session, the message that stated a forgotten fact): the receipt lists where,
   and does not count it, since no scan of bytes can tell its copies from the kept ones;
2. every other word in the raw bytes on disk: the SQLite file with its free pages,
   write-ahead log and rollback journal; PostgreSQL's table and index files when the
   server is local and they are readable, and its derived data (the search index's copies
   of messages, the planner's statistics) through SQL. Each copy found there is a
   remaining copy of forgotten text, placed by file, offset, page and table.

An encrypted store never writes the plaintext: the byte scan finds no copy by
construction (it still runs, and would find a plaintext one), and kept copies are found
by the first scan, which reads them decrypted. What the receipt could not look at is said
in its notes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .errors import StoreError
from .store import SQLiteStore, Store
from .store.residue import Copy, contains, needles_of, pattern_of
from .store.sqlite import scrub as sqlite_scrub

# Keys of an item whose values say what kind of item it is, not what was said.
_STRUCTURE = frozenset({"type", "role", "status", "id", "call_id"})


@dataclass(frozen=True)
class Receipt:
    """What a deletion removed (rows per table), every copy of its text that remains, and
    where its words are also in text that was kept."""

    forgot: str
    removed: dict[str, int]
    needles: list[str]
    copies: list[Copy] = field(default_factory=list)
    kept: list[Copy] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when no copy of the forgotten text remains anywhere the scan looked."""
        return not self.copies

    def lines(self) -> list[str]:
        """The receipt as lines of text, for a terminal."""
        removed = ", ".join(f"{table} {count}" for table, count in self.removed.items())
        kept_words = {copy.needle for copy in self.kept}
        words = len(self.needles) - len(kept_words)
        out = [
            f"receipt: {self.forgot}",
            f"  removed: {removed or 'nothing'}",
            f"  looked for {words} distinctive word{'s' * (words != 1)} in: "
            + "; ".join(["kept data", *self.scanned]),
        ]
        if self.kept:
            out.append(
                f"  also in kept text, so not looked for on disk: {len(kept_words)}"
                f" word{'s' * (len(kept_words) != 1)}"
            )
            out += [f"    {copy.needle!r} in {copy.where}" for copy in self.kept]
        out += [f"  note: {note}" for note in self.notes]
        count = len(self.copies)
        if not count:
            out.append("  0 remaining copies")
        else:
            out.append(f"  {count} remaining cop{'y' if count == 1 else 'ies'}:")
            out += [f"    {copy.needle!r} in {copy.where}" for copy in self.copies]
        return out


def forget_with_receipt(store: Store, forgot: str, delete: Callable[[], Iterable[str]]) -> Receipt:
    """Run ``delete`` (which returns the texts it deletes, gathered before deleting them),
    scrub the store and scan it for those texts."""
    backend = _backend_of(store)
    before = backend.row_counts()
    texts = list(delete())
    notes = backend.scrub()
    after = backend.row_counts()
    removed = {table: before[table] - after.get(table, 0) for table in before}
    needles = needles_of(texts)
    kept = in_kept_data(store, needles)
    kept_words = {copy.needle for copy in kept}
    looked_for = [needle for needle in needles if needle not in kept_words]
    pattern = pattern_of(looked_for)
    found, scanned, unread = backend.scan(looked_for, pattern) if pattern else ([], [], [])
    if getattr(store, "cipher", None) is not None:
        notes.append(
            "an encrypted store: its files hold sealed text only, which no scan can match;"
            " kept data was read decrypted"
        )
    return Receipt(
        forgot=forgot,
        removed={table: count for table, count in removed.items() if count > 0},
        needles=needles,
        copies=found,
        kept=kept,
        scanned=scanned,
        notes=notes + unread,
    )


def in_kept_data(store: Store, needles: list[str]) -> list[Copy]:
    """Every needle in what the store holds, read through the store: user names, facts,
    session titles, summaries and messages."""
    if not needles:
        return []
    copies: list[Copy] = []

    def look(text: str | None, where: str) -> None:
        copies.extend(Copy(needle, where) for needle in contains(text or "", needles))

    for user in store.list_users():
        name = user.name
        look(name, f"the user name {name!r}")
        for fact in store.list_facts(name):
            look(f"{fact.key} {fact.value}", f"{name}'s fact {fact.key!r}")
        for session in store.list_sessions(name):
            where = f"{name}'s session {session.id}"
            look(session.title, f"the title of {where}")
            summary = store.get_summary(session)
            look(summary.text if summary else None, f"the summary of {where}")
            for turn in store.get_turns(session):
                for item_id, item in zip(turn.item_ids, turn.items, strict=False):
                    look(" ".join(item_strings(item)), f"{where}, turn {turn.seq} (item {item_id})")
    return copies


def item_strings(item: Any) -> list[str]:
    """The texts an item holds (a message's words, a tool call's arguments and output),
    without the values that only say what kind of item it is."""
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        return [
            s for key, value in item.items() if key not in _STRUCTURE for s in item_strings(value)
        ]
    if isinstance(item, list):
        return [s for value in item for s in item_strings(value)]
    return []


@dataclass(frozen=True)
class _Backend:
    """The scrub and scan of the store's backend, bound to the store."""

    row_counts: Callable[[], dict[str, int]]
    scrub: Callable[[], list[str]]
    scan: Callable[[list[str], re.Pattern[bytes]], tuple[list[Copy], list[str], list[str]]]


def _backend_of(store: Store) -> _Backend:
    module: Any
    if isinstance(store, SQLiteStore):
        module = sqlite_scrub
    elif type(store).__module__.startswith("memchat.store.postgres."):
        # Imported here: psycopg is an optional extra, which a SQLite user never loads.
        from .store.postgres import scrub as module
    else:
        raise StoreError(f"cannot verify forgetting on a {type(store).__name__}")
    return _Backend(
        row_counts=partial(module.row_counts, store),
        scrub=partial(module.scrub, store),
        scan=partial(module.scan, store),
    )
