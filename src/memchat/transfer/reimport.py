"""Another app's export imported again: conversations already stored get the turns they
gained since, and the others are left as they are.

An export holds the whole history every time, and a conversation keeps its session id
(``foreign/turns.py`` makes it from the conversation's). One already stored is continued
when the session's active line is the start of the export's active line, and the export
has more: the same turns, each with the same messages by the same speakers (their words
compared, whatever else the app changed in its export, times and ids included), and no
turn of the session deleted since. Anything else is skipped: nothing new, a line that
went another way in the app (a message edited, a reply regenerated), or a session
changed in memchat (a turn undone, edited or added, a branch switched). Only the active
line grows: branches the app made among the new turns are not brought in.

Forgetting in memchat does not change a stored message: it keeps it out of recall
(``Store.hidden_from_recall``), so the comparison sees the words the import wrote, and the
new turns go after the stored ones, which keep their marks. ``learn`` reads the new turns
only: the stored ones were read, or not, when they came in.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..store import SessionInfo, Store, Turn
from ..store.continuation import Continuation
from ..store.records import SessionRecord
from ..store.titles import message_text
from .archive import Archive


def against_store(store: Store, records: Sequence[SessionRecord]) -> Archive:
    """What importing ``records`` brings: the new sessions, the turns continuing stored
    ones, and how many stored ones are left as they are (``skipped``)."""
    new: list[SessionRecord] = []
    continued: list[Continuation] = []
    for record in records:
        info = store.find_session(record.user, record.id)
        if info is None:
            new.append(record)
            continue
        found = continuation(store, info, record)
        if found is not None:
            continued.append(found)
    return Archive(new, skipped=len(records) - len(new) - len(continued), continued=continued)


def continuation(store: Store, info: SessionInfo, record: SessionRecord) -> Continuation | None:
    """The turns of ``record`` that continue the stored session ``info``, or None if it
    does not continue it (or has nothing new)."""
    if info.metadata.get("imported_from") != record.metadata.get("imported_from"):
        return None  # not a session this import made
    line = store.get_turns(info)
    if not line or len(record.turns) <= len(line):
        return None
    if any(said(kept) != said(read) for kept, read in zip(line, record.turns, strict=False)):
        return None
    if store.lost_turns(info):
        return None  # an undone turn would look like one the app has and memchat not yet
    return Continuation(info, line, record.turns[len(line) :])


def said(turn: Turn) -> list[tuple[str, str]]:
    """What a turn says, as re-imports compare it: each message's speaker and words (in
    whatever spacing)."""
    found = (message_text(item) for item in turn.items)
    return [(role, " ".join(text.split())) for role, text in filter(None, found)]
