"""``memchat chat``: the interactive terminal chat and its slash commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import Settings
from ..derived import forget_beside_store
from ..errors import MemchatError
from ..memory.forget import forget_fact
from ..store import SessionInfo, Store
from ..store.base import is_user_message
from ..store.snippets import HIGHLIGHT
from ..store.titles import item_text
from . import branches, projects
from .app import App, pass_app, project_option, user_of, user_option
from .render import console, counted, escape, print_history, print_sessions, show_stream
from .search import print_hits

if TYPE_CHECKING:
    from ..chat import Chat
    from ..memory.context import AssembledContext
    from ..store import MemchatSession

EXIT_WORDS = {"exit", "quit", "/exit", "/quit"}
# /search shows this many matches.
SEARCH_LIMIT = 10

# Each slash command: what it takes, and what it does (for /help and Tab completion).
COMMANDS = {
    "/help": ("", "this help"),
    "/new": ("", "start a new session"),
    "/sessions": ("", "list your sessions"),
    "/switch": ("ID", "continue another session"),
    "/rename": ("TITLE", "rename this session"),
    "/project": ("[NAME | -]", "this session's project; move it to NAME, or out of any"),
    "/history": ("", "show this session's messages"),
    "/search": ("QUERY", "search all your sessions' messages"),
    "/memory": ("[forget KEY]", "what memchat remembers about you; forget a fact"),
    "/undo": ("", "drop the last turn"),
    "/retry": ("", "send the last message again (a reply it got stays, as a branch)"),
    "/edit": ("N [TEXT]", "send new text as turn N; turns N... stay, as a branch"),
    "/branches": ("", "list this session's branches"),
    "/branch": ("ID", "make a branch the active line"),
    "/clear": ("", "delete every message of this session"),
    "/context": ("", "what the model was given last turn, with token counts"),
    "/user": ("NAME", "chat as another user"),
    "/exit": ("", "leave (also: exit, quit, Ctrl-D)"),
}
HELP = "\n".join(f"{f'{name} {args}':<21} {does}" for name, (args, does) in COMMANDS.items())
HELP += "\nAlt+Enter starts a new line; Up and Down recall what you typed before."


def _session(store: Store, info: SessionInfo) -> MemchatSession:
    # Imported here: it brings the Agents SDK, which `memchat --help` should not load.
    from ..store.session import MemchatSession

    return MemchatSession(store, info)


class Repl:
    """One terminal chat: the current user and session, and the slash commands."""

    def __init__(
        self,
        store: Store,
        chat: Chat,
        user: str,
        session_id: str | None,
        new: bool,
        home: Path | None = None,
        project: str | None = None,
    ):
        self.store = store
        # The data directory, where what is kept beside the store lives (derived.py).
        self.home = home
        self.chat = chat
        self.user = user
        opened = store.open_session(user, session_id, new=new, project=project)
        self.session = _session(store, opened)
        # The text of a turn that failed, so /retry can send it again.
        self.failed_text: str | None = None
        # What the model was given in this chat's last turn, for /context.
        self.last_context: AssembledContext | None = None
        self.commands: dict[str, Callable[[str], None]] = {
            "/help": lambda _: console.print(HELP),
            "/new": self.cmd_new,
            "/sessions": self.cmd_sessions,
            "/switch": self.cmd_switch,
            "/rename": self.cmd_rename,
            "/project": lambda arg: projects.cmd_project(self, arg),
            "/history": self.cmd_history,
            "/edit": lambda arg: branches.cmd_edit(self, arg),
            "/branches": lambda arg: branches.cmd_branches(self, arg),
            "/branch": lambda arg: branches.cmd_branch(self, arg),
            "/undo": self.cmd_undo,
            "/retry": self.cmd_retry,
            "/clear": self.cmd_clear,
            "/search": self.cmd_search,
            "/user": self.cmd_user,
            "/context": self.cmd_context,
            "/memory": self.cmd_memory,
        }

    @property
    def info(self) -> str:
        return f"{self.user} / {self.session.info.id}"

    def refresh(self) -> None:
        self.session.info = self.store.get_session(self.user, self.session.info.id)

    def use(self, session_id: str | None, *, new: bool = False) -> None:
        # A new session is made in the project of the one it follows.
        project = self.session.info.project if new else None
        info = self.store.open_session(self.user, session_id, new=new, project=project)
        self.session = _session(self.store, info)
        self.failed_text = None
        turns = counted(info.turn_count, "turn")
        console.print(f"[dim]session {self.info} ({turns}): {escape(info.display_title)}[/dim]")

    # -- the loop ------------------------------------------------------------------------

    def run(self, lines: Iterator[str]) -> None:
        for line in lines:
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                return
            try:
                if text.startswith("/"):
                    self.dispatch(text)
                else:
                    self.send(text)
            except MemchatError as exc:
                console.print(f"[red]error:[/red] {escape(str(exc))}")

    def dispatch(self, text: str) -> None:
        name, _, arg = text.partition(" ")
        command = self.commands.get(name.lower())
        if command is None:
            raise MemchatError(f"unknown command {name}; /help lists them")
        command(arg.strip())

    def send(self, text: str, *, replace_last: bool = False, edit_seq: int | None = None) -> bool:
        """Run a turn and show it; False if it was interrupted (nothing stored)."""
        # A message that cannot be sent (too long, empty) would fail the same way again:
        # refused here, it is no turn for /retry to send.
        self.chat.check_input(text)
        self.failed_text = text
        try:
            result = asyncio.run(
                show_stream(
                    self.chat.stream_turn(
                        self.session, text, replace_last=replace_last, edit_seq=edit_seq
                    ),
                    markdown=True,
                )
            )
        except KeyboardInterrupt:
            console.print(
                "\n[yellow]interrupted: nothing was saved; /retry sends it again[/yellow]"
            )
            return False
        except MemchatError as exc:
            raise MemchatError(f"{exc} (/retry sends it again)") from exc
        self.failed_text = None
        self.last_context = result.context
        if result.changes:
            console.print(f"[dim]({escape(str(result.changes))})[/dim]")
        self.refresh()
        return True

    # -- slash commands ------------------------------------------------------------------

    def cmd_new(self, _: str) -> None:
        self.use(None, new=True)

    def cmd_sessions(self, _: str) -> None:
        print_sessions(self.store.list_sessions(self.user), self.session.info.id)

    def cmd_switch(self, arg: str) -> None:
        if not arg:
            raise MemchatError("usage: /switch ID (see /sessions)")
        self.use(arg)

    def cmd_rename(self, arg: str) -> None:
        if not arg:
            raise MemchatError("usage: /rename TITLE")
        self.session.info = self.store.rename_session(self.user, self.session.info.id, arg)
        console.print(f"[dim]renamed to {escape(arg)}[/dim]")

    def cmd_undo(self, _: str) -> None:
        items = asyncio.run(self.session.pop_turn())
        self.refresh()
        if not items:
            console.print("[dim]nothing to undo[/dim]")
            return
        asked = next((item_text(i) for i in items if is_user_message(i)), "")
        console.print(f"[dim]dropped the last turn: {escape(asked[:60])}[/dim]")

    def cmd_retry(self, _: str) -> None:
        if self.failed_text is not None:
            self.send(self.failed_text)
            return
        last = self.store.last_turn(self.session.info)
        if last is None or not is_user_message(last.items[0]):
            raise MemchatError("nothing to retry")
        if self.send(item_text(last.items[0]), replace_last=True):
            branches.note_branch(self)

    def cmd_history(self, _: str) -> None:
        info = self.session.info
        print_history(self.store.get_turns(info), branches.versions(self.store, info))

    def cmd_clear(self, _: str) -> None:
        asyncio.run(self.session.clear_session())
        if self.home is not None:
            forget_beside_store(self.home, self.user, self.session.info.id)
        self.refresh()
        console.print("[dim]session cleared[/dim]")

    def cmd_search(self, arg: str) -> None:
        if not arg:
            raise MemchatError("usage: /search QUERY")
        print_hits(self.store.search(self.user, arg, limit=SEARCH_LIMIT, highlight=HIGHLIGHT))

    def cmd_context(self, _: str) -> None:
        context = self.last_context
        if context is None:
            console.print("[dim]no turn yet in this chat[/dim]")
            return
        for part in context.parts:
            console.print(f"[bold]{escape(part.name)}[/bold] [dim]({part.tokens} tokens)[/dim]")
            console.print(escape(part.text), highlight=False)
        console.print(f"[bold]total[/bold] {context.tokens} of {context.budget} tokens")

    def cmd_memory(self, arg: str) -> None:
        verb, _, key = arg.partition(" ")
        if verb == "forget" and key.strip():
            forgotten = forget_fact(self.store, self.user, key.strip())
            fact = forgotten.fact
            console.print(
                f"[dim]forgot {escape(fact.key)}: {escape(fact.value)} "
                f"({counted(forgotten.messages, 'message')} no longer recalled)[/dim]"
            )
            return
        if arg:
            raise MemchatError("usage: /memory, or /memory forget KEY")
        facts = self.store.list_facts(self.user)
        if not facts:
            console.print("[dim]nothing remembered about you yet[/dim]")
        for fact in facts:
            console.print(f"[bold]{escape(fact.key)}[/bold]: {escape(fact.value)}")

    def cmd_user(self, arg: str) -> None:
        if not arg:
            console.print(f"[dim]you are {escape(self.user)}[/dim]")
            return
        self.store.ensure_user(arg)
        self.user = arg
        self.use(None)


def _prompt_lines(repl: Repl, settings: Settings) -> Iterator[str]:
    """What is typed at an interactive prompt; ends on Ctrl-D."""
    from .prompt import history_of, prompt_lines, prompt_session

    commands = {name: does for name, (_, does) in COMMANDS.items()}
    session = prompt_session(history_of(settings), commands)
    return prompt_lines(session, lambda: f"{repl.info}> ")


def _stdin_lines() -> Iterator[str]:
    """Lines from a pipe or file, for scripted sessions."""
    yield from sys.stdin


@click.command()
@user_option
@click.option("--session", "-s", "session_id", metavar="ID", help="Continue this session.")
@click.option("--new", "-n", is_flag=True, help="Start a new session.")
@project_option
@pass_app
def chat(
    app: App, user: str | None, session_id: str | None, new: bool, project: str | None
) -> None:
    """Chat in the terminal (the default command); /help lists the slash commands.

    With --project, in a session of that project (see `memchat projects`).
    """
    name = user_of(app, user)
    repl = Repl(app.store, app.chat(), name, session_id, new, app.settings.home, project)
    console.print(
        f"[bold]memchat[/bold] [dim]{escape(app.model.description)}; "
        f"session {escape(repl.info)} ({counted(repl.session.info.turn_count, 'turn')}). "
        "/help for commands, exit to leave.[/dim]"
    )
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    repl.run(_prompt_lines(repl, app.settings) if interactive else _stdin_lines())
