"""The terminal chat's prompt, driven through prompt_toolkit's pipe input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from memchat.cli.chat import COMMANDS
from memchat.cli.prompt import SlashCompleter, history_of, prompt_session
from memchat.config import Settings, load_settings

UP = "\x1b[A"
ALT_ENTER = "\x1b\r"
TAB = "\t"


@pytest.fixture
def keys() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        yield pipe


COMMAND_HELP = {name: does for name, (_, does) in COMMANDS.items()}


def typed(settings: Settings, keys: PipeInput, text: str) -> str:
    """What a fresh prompt (as after a restart) returns for the keys in ``text``."""
    session = prompt_session(history_of(settings), COMMAND_HELP, input=keys, output=DummyOutput())
    keys.send_text(text)
    return session.prompt("> ")


def test_history_survives_a_restart(keys: PipeInput, memchat_env: Path) -> None:
    settings = load_settings()
    assert typed(settings, keys, "My name is Sara\r") == "My name is Sara"
    assert typed(settings, keys, "second\r") == "second"
    # A new prompt, as in a new process: Up brings back the last line, then the one before.
    assert typed(settings, keys, UP + UP + "\r") == "My name is Sara"
    history = memchat_env / "history"
    assert "My name is Sara" in history.read_text()
    # It holds what the user typed: only they can read it.
    assert history.stat().st_mode & 0o077 == 0


def test_no_history_file_with_encryption(
    keys: PipeInput, memchat_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_ENCRYPTION_KEY", "k" * 44)
    settings = load_settings()
    assert typed(settings, keys, "secret\r") == "secret"
    assert typed(settings, keys, UP + "\r") == ""
    assert not (memchat_env / "history").exists()


async def until(condition: Callable[[], bool]) -> None:
    """Let the prompt run until ``condition`` holds (completions arrive asynchronously)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the prompt never got there")


async def completed(keys: PipeInput, start: str, rest: str = "") -> str:
    """What the prompt returns after typing ``start``, Tab, then ``rest`` and Enter."""
    session = prompt_session(InMemoryHistory(), COMMAND_HELP, input=keys, output=DummyOutput())
    answer = asyncio.create_task(session.prompt_async("> "))
    keys.send_text(start)
    await until(lambda: session.default_buffer.text == start)
    keys.send_text(TAB)
    await until(lambda: session.default_buffer.text != start)
    keys.send_text(rest + "\r")
    return await answer


def test_a_read_only_data_directory_keeps_history_in_memory(
    keys: PipeInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("MEMCHAT_HOME", str(blocked / "home"))  # under a file: cannot exist
    settings = load_settings()
    assert typed(settings, keys, "hello\r") == "hello"


async def test_tab_completes_slash_commands(keys: PipeInput) -> None:
    assert await completed(keys, "/his") == "/history"
    assert await completed(keys, "/me", " forget name") == "/memory forget name"


def test_only_a_command_at_the_start_is_completed() -> None:
    completer = SlashCompleter(COMMAND_HELP)
    event = CompleteEvent(completion_requested=True)
    offered = completer.get_completions(Document("/s"), event)
    assert [(c.text, c.display_meta_text) for c in offered] == [
        ("/sessions", "list your sessions"),
        ("/switch", "continue another session"),
        ("/search", "search all your sessions' messages"),
    ]
    for typed_text in ("see /his", "/history now", "hello"):
        assert list(completer.get_completions(Document(typed_text), event)) == []


def test_alt_enter_starts_a_new_line(keys: PipeInput) -> None:
    settings = load_settings()
    assert typed(settings, keys, "line one" + ALT_ENTER + "line two\r") == "line one\nline two"
