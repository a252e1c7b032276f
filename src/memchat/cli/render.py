"""How the terminal shows replies, histories and tables."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from ..errors import TurnError
from ..receipt import Receipt
from ..store import SessionInfo, Turn
from ..store.titles import item_text

if TYPE_CHECKING:
    from ..chat import TurnResult

console = Console()


async def show_stream(pieces: AsyncIterator[str | TurnResult], *, markdown: bool) -> TurnResult:
    """Print a turn's reply as it streams (``Chat.stream_turn``) and return its result.

    On a terminal the reply is rendered as Markdown, re-rendered as it grows, after a
    "Thinking..." spinner until its first piece; otherwise (a pipe, a file) the raw text
    is written unchanged.
    """
    if markdown and console.is_terminal:
        return await _show_live(pieces)
    shown = False
    result: TurnResult | None = None
    try:
        async for piece in pieces:
            if isinstance(piece, str):
                shown = True
                click.echo(piece, nl=False)
            else:
                result = piece
    finally:
        # An error after part of the reply must start on a line of its own.
        if shown or result is not None:
            click.echo()
    return _stored(result)


def _stored(result: TurnResult | None) -> TurnResult:
    if result is None:
        raise TurnError("the turn ended without a result")
    return result


async def _show_live(pieces: AsyncIterator[str | TurnResult]) -> TurnResult:
    # Imported here: rich's Markdown brings markdown-it and Pygments, slow to import.
    from rich.live import Live
    from rich.markdown import Markdown
    from rich.spinner import Spinner
    from rich.text import Text

    parts: list[str] = []
    result: TurnResult | None = None
    thinking = Spinner("dots", Text("Thinking...", style="dim"), style="dim")
    with quiet_keyboard(), Live(thinking, console=console, refresh_per_second=12) as live:
        try:
            async for piece in pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                    live.update(Markdown("".join(parts)))
                else:
                    result = piece
        finally:
            # Stopped before the first piece (an error, Ctrl-C): leave no spinner behind.
            if not parts:
                live.update(Text(""))
    return _stored(result)


@contextlib.contextmanager
def quiet_keyboard() -> Iterator[None]:
    """Keep the terminal from echoing keys (and Ctrl-C's ``^C``) while a reply streams.

    The live display redraws itself by moving the cursor up as many lines as it drew; an
    echoed ``^C`` at the end of a full-width line wraps the cursor onto a new one, and the
    redraw then starts a line too low, printing the reply's first line twice. Keys typed
    meanwhile stay in the input buffer for the next prompt; Ctrl-C still interrupts.
    """
    try:
        import termios
    except ImportError:  # not a POSIX terminal (Windows)
        yield
        return
    fd = sys.stdin.fileno() if sys.stdin.isatty() else -1
    try:
        saved = termios.tcgetattr(fd)
    except (termios.error, ValueError, OSError):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def print_json(value: Any) -> None:
    """Write ``value`` as JSON on stdout (for ``--json``)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def session_json(info: SessionInfo) -> dict[str, Any]:
    """A session as the JSON ``--json`` listings print."""
    data = asdict(info)
    data.pop("pk")
    return data


def print_sessions(sessions: Sequence[SessionInfo], current: str | None) -> None:
    """A table of sessions, the current one marked."""
    if not sessions:
        console.print("no sessions yet")
        return
    table = Table(show_edge=False, box=None)
    # The project column only where some session is in one.
    projects = any(info.project for info in sessions)
    for column in ("", "id", "title", *(["project"] if projects else []), "turns", "updated"):
        table.add_column(column)
    for info in sessions:
        table.add_row(
            "*" if info.id == current else "",
            info.id,
            info.display_title,
            *([info.project] if projects else []),
            str(info.turn_count),
            info.updated_at[:19].replace("T", " "),
        )
    console.print(table)


def print_history(turns: Sequence[Turn], versions: Mapping[int, list[int]] | None = None) -> None:
    """Every message of a session, in order, tool calls summarized; each turn numbered, and
    marked where it has other ``versions`` (branch ids by turn seq)."""
    if not turns:
        console.print("[dim](no messages)[/dim]")
        return
    for number, turn in enumerate(turns, 1):
        others = (versions or {}).get(turn.seq)
        also = f" [dim](also: branch {', '.join(map(str, others))})[/dim]" if others else ""
        for item in turn.items:
            role = item.get("role")
            if role == "user":
                console.print(
                    f"[dim]{number}[/dim] [bold cyan]you[/bold cyan]  {escape(item_text(item))}"
                    + also
                )
            elif role == "assistant":
                console.print(f"[bold green]ai[/bold green]   {escape(item_text(item))}")
            elif role is not None:
                console.print(f"[dim]{role}: {escape(item_text(item))}[/dim]")
            else:
                console.print(f"[dim]  ({item.get('type', 'item')})[/dim]")


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural unless it is one: "1 turn", "3 turns"."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def escape(text: str) -> str:
    """Text with rich markup characters escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def print_receipt(receipt: Receipt) -> None:
    """Print a forgetting's receipt; exit with status 1 if a copy of the text remains."""
    for line in receipt.lines():
        click.echo(line)
    if not receipt.clean:
        raise click.exceptions.Exit(1)
