"""Turns added after a stored session's active line by an import, once for both backends.

A conversation of another app's export may have grown since an earlier import brought it
in. The importer reads the stored session's active line (``Store.get_turns``), decides
which of the export's turns continue it, and hands them to ``Store.import_sessions`` as a
``Continuation``. In the import's one transaction, holding the session's turn lock (each
backend's ``imports.py``), ``add_continuations`` makes sure the line is still the one
read and that no turn of the session was deleted since it was written (``check_line``),
then adds each new turn with the backend's ``append_turn``, at the end of the line and
numbered after the session's last turn, as a chat's turn is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MemchatError, SessionChanged, SessionNotFound
from .codec import turns_from_rows, unpack_item
from .crypto import Cipher
from .records import SessionInfo, Turn
from .tree import run


@dataclass(frozen=True)
class Continuation:
    """Turns to add after the active line of a stored session.

    ``line`` is that line as the importer read it (``Store.get_turns``, item ids and all):
    the turns are added only if the session still has exactly that line. They are
    numbered by the store, after the session's last turn (their own ``seq`` is not used).
    """

    session: SessionInfo
    line: list[Turn]
    turns: list[Turn]


_LINE = (
    "SELECT seq, created_at, id, data FROM items WHERE session_id = ? AND branch = 0"
    " ORDER BY seq, id"
)
# A session gives each turn the next number (``last_seq``) once, and a turn keeps it on
# whichever branch it ends up: a number that no item has any more is a deleted turn.
_LOST = (
    "SELECT s.last_seq - (SELECT count(DISTINCT i.seq) FROM items i WHERE i.session_id = s.id)"
    " FROM sessions s WHERE s.id = ?"
)


def check_continuations(continuations: Sequence[Continuation]) -> None:
    """Raise MemchatError if a continuation has no turns, a turn has no items, or two
    continue the same session."""
    seen: set[tuple[str, str]] = set()
    for continuation in continuations:
        session = continuation.session
        where = f"session {session.user}/{session.id}"
        if (session.user, session.id) in seen:
            raise MemchatError(f"{where}: continued twice in one import")
        seen.add((session.user, session.id))
        if not continuation.turns or not all(turn.items for turn in continuation.turns):
            raise MemchatError(f"{where}: a continuation needs turns, each with items")


def check_line(conn: Any, cipher: Cipher | None, continuation: Continuation) -> None:
    """Raise SessionChanged unless the session's active line is still the one the
    importer read and none of its turns was deleted (in the caller's transaction)."""
    session = continuation.session
    rows = run(conn, _LINE, (session.pk,)).fetchall()
    line = turns_from_rows(
        (seq, at, item_id, unpack_item(cipher, session, item_id, data))
        for seq, at, item_id, data in rows
    )
    lost = run(conn, _LOST, (session.pk,)).fetchone()
    if lost is None or lost[0] or _as_stored(line) != _as_stored(continuation.line):
        raise SessionChanged(
            f"session {session.user}/{session.id} changed while it was imported into:"
            " import the file again"
        )


def add_continuations(
    conn: Any,
    cipher: Cipher | None,
    continuations: Sequence[Continuation],
    append_turn: Callable[[Any, Cipher | None, int, Turn], None],
) -> None:
    """Check each continued session's line (``check_line``) and add its turns with the
    backend's ``append_turn``, in the caller's transaction."""
    for continuation in continuations:
        check_line(conn, cipher, continuation)
        for turn in continuation.turns:
            append_turn(conn, cipher, continuation.session.pk, turn)


def _as_stored(line: list[Turn]) -> list[tuple[Any, ...]]:
    # Turn's own equality leaves out the item ids, which tell a deleted and re-added
    # item from the one that was there.
    return [(turn.seq, turn.created_at, turn.items, turn.item_ids) for turn in line]


class ContinuationMixin:
    """What an importer reads to continue a session, mixed into each backend's store
    (which provides ``_db``)."""

    _db: Any

    def lost_turns(self, session: SessionInfo) -> int:
        """How many of the session's turns were deleted since they were written (undone,
        popped, pruned, cleared), on any branch (raise SessionNotFound)."""
        row = self._db.read(lambda conn: run(conn, _LOST, (session.pk,)).fetchone())
        if row is None:
            raise SessionNotFound(f"session {session.user}/{session.id} was deleted")
        return int(row[0])
