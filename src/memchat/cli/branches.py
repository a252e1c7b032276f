"""The terminal's branch commands (``/edit``, ``/branches``, ``/branch``) and their views.

Turns are numbered as ``/history`` and ``memchat sessions show`` print them: 1, 2, ... along
the session's active line; the store knows them by seq (``store/tree.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from ..errors import MemchatError, TurnNotFound
from ..store import SessionInfo, Store, Turn
from ..store.records import BranchInfo
from ..store.titles import item_text
from .render import console, counted, escape

if TYPE_CHECKING:
    from .chat import Repl

# How much of a branch's first message /branches shows.
FIRST_WORDS = 60


def turn_number(store: Store, info: SessionInfo, number: str) -> Turn:
    """The active line's turn ``number`` (1, 2, ... as /history shows them)."""
    turns = store.get_turns(info)
    try:
        position = int(number)
    except ValueError:
        raise MemchatError(f"{number!r} is not a turn number (see /history)") from None
    if not 1 <= position <= len(turns):
        raise TurnNotFound(f"no turn {position}: this session has {counted(len(turns), 'turn')}")
    return turns[position - 1]


def versions(store: Store, info: SessionInfo) -> dict[int, list[int]]:
    """For each turn of the active line that has other versions, its branches' ids."""
    turns = store.get_turns(info)
    after = {0: turns[0].seq} if turns else {}
    after.update({before.seq: turn.seq for before, turn in itertools.pairwise(turns)})
    found: dict[int, list[int]] = {}
    for branch in store.list_branches(info):
        if branch.parent == 0 and branch.fork_seq in after:
            found.setdefault(after[branch.fork_seq], []).append(branch.id)
    return found


def cmd_edit(repl: Repl, arg: str, ask: Callable[[str], str] | None = None) -> None:
    """``/edit N [TEXT]``: send TEXT as turn N (asked for when not given); turns N...
    stay, as a branch."""
    number, _, text = arg.partition(" ")
    if not number:
        raise MemchatError("usage: /edit N [new text] (N as /history numbers the turns)")
    turn = turn_number(repl.store, repl.session.info, number)
    if not text.strip():
        old = item_text(turn.items[0])
        console.print(f"[dim]turn {number}: {escape(old)}[/dim]")
        text = (ask or _ask)("new text")
    if repl.send(text.strip(), edit_seq=turn.seq):
        note_branch(repl)


def note_branch(repl: Repl) -> None:
    """Say which branch holds what an edit or /retry took the place of."""
    # The branch an edit makes has the highest id (store/tree.py).
    newest = max((b.id for b in repl.store.list_branches(repl.session.info)), default=None)
    if newest is not None:
        console.print(f"[dim](the earlier version is branch {newest}: /branches)[/dim]")


def cmd_branches(repl: Repl, _: str) -> None:
    """``/branches``: the active line and each branch, where it leaves the line."""
    info = repl.session.info
    turns = repl.store.get_turns(info)
    console.print(f"[bold]* active[/bold]  {counted(len(turns), 'turn')}")
    print_branches(repl.store.list_branches(info), turns)


def print_branches(branches: Sequence[BranchInfo], turns: Sequence[Turn]) -> None:
    """One line per branch: id, the turn it takes the place of, its size, first words."""
    if not branches:
        console.print("[dim]no other branches (/edit N makes one)[/dim]")
        return
    position = {turn.seq: n for n, turn in enumerate(turns, 1)}
    position[0] = 0
    for branch in branches:
        if branch.parent == 0:
            where = f"turn {position.get(branch.fork_seq, 0) + 1}"
        else:
            where = f"under branch {branch.parent}"
        first = item_text(branch.first_item) if branch.first_item is not None else ""
        if len(first) > FIRST_WORDS:
            first = first[: FIRST_WORDS - 1] + "…"
        console.print(
            f"  {branch.id:<4} {where:<16} {counted(branch.turn_count, 'turn'):<9} {escape(first)}",
            highlight=False,
        )


def cmd_branch(repl: Repl, arg: str) -> None:
    """``/branch ID``: make a branch the active line."""
    if not arg.strip().isdigit():
        raise MemchatError("usage: /branch ID (see /branches)")
    branch = int(arg)
    repl.store.activate_branch(repl.session.info, branch)
    repl.refresh()
    turns = counted(repl.session.info.turn_count, "turn")
    left = any(b.id == branch for b in repl.store.list_branches(repl.session.info))
    kept = f"; the line you left is branch {branch} now" if left else ""
    console.print(f"[dim]switched to branch {branch} ({turns}){kept}[/dim]")


def _ask(label: str) -> str:
    return str(click.prompt(label))
