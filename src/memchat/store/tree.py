"""A session's tree of turns: its active line and the branches beside it, on both backends.

A session's active line is its ordinary items (``items.branch = 0``), so every read of
what the model sees, recall and summaries (``get_items``, recent turns, the search SQL)
reads the active line alone, through the index ``items_by_turn (session_id, branch, seq,
id)``, as fast as a session without branches. An inactive branch is a row of ``branches``
(its id, the turn ``fork_seq`` it continues from, and ``parent``, the branch holding that
turn: 0 for the active line) and the items of its own turns, labelled with its id.

A turn's seq is given once, from the session's ``last_seq``, so along any line seqs grow:
the active line is its items in seq order, whatever branches it went through.

- Editing turn N moves turns N... of the active line to a new branch (``move_aside``)
  and, in the same transaction, the backend stores the edited turn: a failed model call,
  which stores nothing, leaves the tree as it was.
- Switching to a branch swaps it with the active line's turns after its fork
  (``swap_in``), which become a branch of the same id; a branch of an inactive branch is
  reached by swapping in its ancestors first.
- Deleting the active line's last turn (``/undo``) deletes the branches that continued
  from it (``drop_orphans``).

The SQL is written once for both dialects (``?`` placeholders, turned into psycopg's
``%s``); each backend calls these functions inside its own write transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import BranchNotFound, TurnNotFound
from .records import MAX_SEQ

# A label no branch has, for the moment of a swap.
_SWAPPING = -1


def run(conn: Any, statement: str, params: tuple[Any, ...] = ()) -> Any:
    """Execute ``statement`` (``?`` placeholders) on a SQLite or a psycopg connection."""
    if not isinstance(conn, sqlite3.Connection):
        statement = statement.replace("?", "%s")
    return conn.execute(statement, params)


def last_seq(conn: Any, session_pk: int) -> int:
    """The seq of the active line's last turn (0 if it has none)."""
    row = run(
        conn,
        "SELECT coalesce(max(seq), 0) FROM items WHERE session_id = ? AND branch = 0",
        (session_pk,),
    ).fetchone()
    return int(row[0])


def move_aside(conn: Any, session_pk: int, seq: int, stamp: str) -> int:
    """Move the active line's turns from ``seq`` on to a new branch and return its id.

    Raise TurnNotFound if the active line has no turn ``seq``.
    """
    if not 0 < seq <= MAX_SEQ:
        raise TurnNotFound(f"the active branch has no turn {seq}")
    found = run(
        conn,
        "SELECT 1 FROM items WHERE session_id = ? AND branch = 0 AND seq = ? LIMIT 1",
        (session_pk, seq),
    ).fetchone()
    if found is None:
        raise TurnNotFound(f"the active branch has no turn {seq}")
    (fork,) = run(
        conn,
        "SELECT coalesce(max(seq), 0) FROM items WHERE session_id = ? AND branch = 0 AND seq < ?",
        (session_pk, seq),
    ).fetchone()
    (branch,) = run(
        conn, "SELECT coalesce(max(id), 0) + 1 FROM branches WHERE session_id = ?", (session_pk,)
    ).fetchone()
    # Branches that continued from a moved turn now continue from the new branch.
    run(
        conn,
        "UPDATE branches SET parent = ? WHERE session_id = ? AND parent = 0 AND fork_seq >= ?",
        (branch, session_pk, seq),
    )
    run(
        conn,
        "INSERT INTO branches (session_id, id, parent, fork_seq, created_at)"
        " VALUES (?, ?, 0, ?, ?)",
        (session_pk, branch, int(fork), stamp),
    )
    run(
        conn,
        "UPDATE items SET branch = ? WHERE session_id = ? AND branch = 0 AND seq >= ?",
        (branch, session_pk, seq),
    )
    line_changed(conn, session_pk, int(fork))
    return int(branch)


def activate(conn: Any, session_pk: int, branch: int) -> int:
    """Make ``branch`` the active line; return the seq from which the line changed.

    The active line's turns after the fork become the branch ``branch`` (a branch that
    would hold no turn is dropped). Raise BranchNotFound for an unknown branch.
    """
    rows = run(
        conn, "SELECT id, parent, fork_seq FROM branches WHERE session_id = ?", (session_pk,)
    ).fetchall()
    parents = {int(i): int(parent) for i, parent, _ in rows}
    if branch not in parents:
        raise BranchNotFound(f"the session has no branch {branch}")
    chain: list[int] = []
    while branch != 0 and branch not in chain:
        chain.append(branch)
        branch = parents.get(branch, 0)
    changed = None
    # From the branch nearest the active line down: each swap makes the next one's
    # parent the active line.
    for step in reversed(chain):
        fork = _swap(conn, session_pk, step)
        changed = fork if changed is None else min(changed, fork)
    return changed or 0


def _swap(conn: Any, pk: int, branch: int) -> int:
    (fork,) = run(
        conn, "SELECT fork_seq FROM branches WHERE session_id = ? AND id = ?", (pk, branch)
    ).fetchone()
    moves = (
        ("UPDATE items SET branch = ? WHERE session_id = ? AND branch = 0 AND seq > ?",
         (_SWAPPING, pk, fork)),
        ("UPDATE items SET branch = 0 WHERE session_id = ? AND branch = ?", (pk, branch)),
        ("UPDATE items SET branch = ? WHERE session_id = ? AND branch = ?",
         (branch, pk, _SWAPPING)),
        # Branches of the turns swapped out now continue from ``branch``; those of the
        # turns swapped in, from the active line.
        ("UPDATE branches SET parent = ? WHERE session_id = ? AND parent = 0"
         " AND fork_seq > ? AND id <> ?", (_SWAPPING, pk, fork, branch)),
        ("UPDATE branches SET parent = 0 WHERE session_id = ? AND parent = ?", (pk, branch)),
        ("UPDATE branches SET parent = ? WHERE session_id = ? AND parent = ?",
         (branch, pk, _SWAPPING)),
    )  # fmt: skip
    for statement, params in moves:
        run(conn, statement, params)
    if not run(
        conn, "SELECT 1 FROM items WHERE session_id = ? AND branch = ? LIMIT 1", (pk, branch)
    ).fetchone():
        # The active line ended at the fork (its continuation was undone): nothing to keep.
        run(conn, "DELETE FROM branches WHERE session_id = ? AND id = ?", (pk, branch))
    line_changed(conn, pk, int(fork))
    return int(fork)


def line_changed(conn: Any, session_pk: int, through: int) -> None:
    """Bookkeeping after the active line changed after turn ``through``: its turn count,
    and no summary of turns that are no longer on it."""
    run(
        conn,
        "UPDATE sessions SET turn_count = (SELECT count(DISTINCT seq) FROM items"
        " WHERE session_id = ? AND branch = 0) WHERE id = ?",
        (session_pk, session_pk),
    )
    run(
        conn,
        "DELETE FROM summaries WHERE session_id = ? AND through_seq > ?",
        (session_pk, through),
    )


def drop_orphans(conn: Any, session_pk: int) -> None:
    """Delete the branches that continue from a turn no longer there (and theirs)."""
    rows = run(
        conn, "SELECT id, parent, fork_seq FROM branches WHERE session_id = ?", (session_pk,)
    ).fetchall()
    if not rows:
        return
    end = last_seq(conn, session_pk)
    gone = {int(i) for i, parent, fork in rows if parent == 0 and fork > end}
    grown = True
    while grown:
        more = {int(i) for i, parent, _ in rows if parent in gone} - gone
        gone |= more
        grown = bool(more)
    for branch in sorted(gone):
        run(conn, "DELETE FROM items WHERE session_id = ? AND branch = ?", (session_pk, branch))
        run(conn, "DELETE FROM branches WHERE session_id = ? AND id = ?", (session_pk, branch))


def drop_empty(conn: Any, session_pk: int) -> None:
    """Delete the branches left without turns (by ``prune``); theirs continue from
    their parent instead."""
    rows = run(
        conn,
        "SELECT b.id, b.parent FROM branches b WHERE b.session_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM items i WHERE i.session_id = b.session_id AND i.branch = b.id)",
        (session_pk,),
    ).fetchall()
    for branch, parent in rows:
        run(
            conn,
            "UPDATE branches SET parent = ? WHERE session_id = ? AND parent = ?",
            (parent, session_pk, branch),
        )
        run(conn, "DELETE FROM branches WHERE session_id = ? AND id = ?", (session_pk, branch))


def branch_rows(conn: Any, session_pk: int) -> list[tuple[Any, ...]]:
    """(id, parent, fork_seq, created_at, turn count, first item's seq, id and data) of
    each branch, by fork and id."""
    return list(
        run(
            conn,
            "SELECT b.id, b.parent, b.fork_seq, b.created_at,"
            " (SELECT count(DISTINCT i.seq) FROM items i"
            "  WHERE i.session_id = b.session_id AND i.branch = b.id),"
            " f.seq, f.id, f.data FROM branches b LEFT JOIN items f ON f.id ="
            " (SELECT i.id FROM items i WHERE i.session_id = b.session_id AND i.branch = b.id"
            "  ORDER BY i.seq, i.id LIMIT 1)"
            " WHERE b.session_id = ? ORDER BY b.fork_seq, b.id",
            (session_pk,),
        ).fetchall()
    )


def branch_item_rows(conn: Any, session_pk: int, branch: int) -> list[tuple[Any, ...]]:
    """(seq, created_at, id, data) of a branch's own items, in order; BranchNotFound if
    the session has no such branch (0, the active line, is not one)."""
    if not run(
        conn, "SELECT 1 FROM branches WHERE session_id = ? AND id = ?", (session_pk, branch)
    ).fetchone():
        raise BranchNotFound(f"the session has no branch {branch}")
    return list(
        run(
            conn,
            "SELECT seq, created_at, id, data FROM items WHERE session_id = ? AND branch = ?"
            " ORDER BY seq, id",
            (session_pk, branch),
        ).fetchall()
    )


def label_branches(
    conn: Any,
    session_pk: int,
    branches: list[tuple[int, int, int, str]],
    seqs: dict[int, list[int]],
) -> None:
    """After an import wrote every turn of a session on its active line: put the turns of
    each branch (id, parent, fork_seq, created_at) in ``seqs[id]`` on that branch."""
    for branch, parent, fork, created_at in branches:
        run(
            conn,
            "INSERT INTO branches (session_id, id, parent, fork_seq, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (session_pk, branch, parent, fork, created_at),
        )
        for seq in seqs.get(branch, []):
            run(
                conn,
                "UPDATE items SET branch = ? WHERE session_id = ? AND branch = 0 AND seq = ?",
                (branch, session_pk, seq),
            )
    if branches:
        run(
            conn,
            "UPDATE sessions SET turn_count = (SELECT count(DISTINCT seq) FROM items"
            " WHERE session_id = ? AND branch = 0) WHERE id = ?",
            (session_pk, session_pk),
        )
