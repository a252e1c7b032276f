"""Reading a session's branches, once for both backends: the rows ``tree.py`` selects,
made records with their items unsealed (``codec.py``)."""

from __future__ import annotations

from typing import Any

from . import tree
from .codec import turns_from_rows, unpack_item
from .crypto import Cipher
from .records import BranchInfo, SessionInfo, Turn


def read_branches(conn: Any, cipher: Cipher | None, session: SessionInfo) -> list[BranchInfo]:
    """The session's inactive branches, by the turn they continue from, then id."""
    return [
        BranchInfo(
            int(branch),
            int(parent),
            int(fork),
            created_at,
            int(turns),
            None if data is None else unpack_item(cipher, session, item_id, data),
            None if first_seq is None else int(first_seq),
        )
        for branch, parent, fork, created_at, turns, first_seq, item_id, data in tree.branch_rows(
            conn, session.pk
        )
    ]


def read_branch_turns(
    conn: Any, cipher: Cipher | None, session: SessionInfo, branch: int
) -> list[Turn]:
    """A branch's own turns (BranchNotFound if the session has no such branch)."""
    rows = tree.branch_item_rows(conn, session.pk, branch)
    return turns_from_rows(
        (seq, at, i, unpack_item(cipher, session, i, data)) for seq, at, i, data in rows
    )
