"""The terminal chat's prompt: history across restarts, Tab completion, Alt+Enter.

Imported only by an interactive chat: prompt_toolkit takes a while to import, and no other
command needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from ..config import Settings

HISTORY_FILE = "history"


def history_of(settings: Settings) -> History:
    """The lines typed at the prompt, kept in the data directory across restarts.

    With MEMCHAT_ENCRYPTION_KEY set they stay in memory: a plaintext file of everything
    typed would undo the encryption of the messages at rest.
    """
    if settings.encryption_key:
        return InMemoryHistory()
    path = settings.home / HISTORY_FILE
    try:
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Made private before prompt_toolkit appends to it: it holds what the user typed.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError:
        return InMemoryHistory()  # a read-only data directory: chat without keeping it
    return FileHistory(path)


class SlashCompleter(Completer):
    """Completes a slash command at the start of the line, showing what it does."""

    def __init__(self, commands: Mapping[str, str]) -> None:
        self.commands = commands

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        typed = document.text_before_cursor
        if not typed.startswith("/") or any(c.isspace() for c in typed):
            return
        for name, meta in self.commands.items():
            if name.startswith(typed.lower()):
                yield Completion(name, start_position=-len(typed), display_meta=meta)


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    # Alt+Enter reaches the terminal as Escape then Enter.
    @bindings.add("escape", "enter")
    def _new_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


def prompt_session(history: History, commands: Mapping[str, str], **io: Any) -> PromptSession[str]:
    """A prompt with ``history``, Tab completion of ``commands`` (name: what it does) and
    Alt+Enter for a new line; ``io`` may give prompt_toolkit's ``input`` and ``output``."""
    return PromptSession(
        history=history,
        completer=SlashCompleter(commands),
        key_bindings=_key_bindings(),
        prompt_continuation=lambda width, line_number, wrap_count: "." * (width - 1) + " ",
        **io,
    )


def prompt_lines(session: PromptSession[str], message: Callable[[], str]) -> Iterator[str]:
    """What is typed at the prompt, a message at a time; Ctrl-C clears, Ctrl-D ends."""
    while True:
        try:
            yield session.prompt(message())
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
