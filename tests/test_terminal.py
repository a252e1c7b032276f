"""The terminal chat in a real terminal (tmux), with a scripted model that streams slowly."""

from __future__ import annotations

import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .tty_chat import FIRST_LINE

ROOT = Path(__file__).parents[1]
# How long to wait for what a step should show; generous, for a loaded machine.
PATIENCE = 60.0

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Terminal:
    """A 100x40 tmux terminal of its own, running ``memchat`` through tests/tty_chat.py."""

    def __init__(self, home: Path) -> None:
        self.socket = f"memchat-test-{secrets.token_hex(4)}"
        self.home = home

    def start(self, *args: str) -> None:
        command = " ".join(
            [
                # The pane's own size, not the size pytest ran in.
                "env -u COLUMNS -u LINES",
                f"MEMCHAT_HOME={shlex.quote(str(self.home))}",
                shlex.quote(sys.executable),
                "-m tests.tty_chat",
                *map(shlex.quote, args),
                # Keep the pane open after memchat exits, to read what it printed last.
                "; echo '[exited]'; sleep 600",
            ]
        )
        self._tmux("new-session", "-d", "-x", "100", "-y", "40", "-c", str(ROOT), command)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-200")

    def wait_for(self, seen: Callable[[str], bool], what: str) -> str:
        """The screen once ``seen`` holds for it; fails, showing it, after PATIENCE."""
        deadline = time.monotonic() + PATIENCE
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} on the screen:\n{screen}")
            time.sleep(0.1)

    def wait_text(self, text: str) -> str:
        return self.wait_for(lambda screen: text in screen, repr(text))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout


@pytest.fixture
def terminal(memchat_env: Path) -> Iterator[Terminal]:
    opened = Terminal(memchat_env)
    try:
        yield opened
    finally:
        opened.close()


def test_thinking_until_the_first_word(terminal: Terminal) -> None:
    terminal.start("chat", "-u", "sara")
    terminal.wait_text("sara / ")
    terminal.keys("hello", "Enter")
    terminal.wait_text("Thinking...")
    screen = terminal.wait_text("end.")
    # The spinner gave way to the reply: nothing of it is left on the screen.
    assert "Thinking" not in screen
    assert screen.count(FIRST_LINE) == 1


def test_ctrl_c_mid_stream_shows_the_partial_reply_once(terminal: Terminal) -> None:
    terminal.start("chat", "-u", "sara")
    terminal.wait_text("sara / ")
    terminal.keys("hello", "Enter")
    terminal.wait_text("word40 ")
    terminal.keys("C-c")
    screen = terminal.wait_text("interrupted: nothing was saved")
    assert screen.count(FIRST_LINE) == 1, screen
    assert "^C" not in screen
    assert "word199" not in screen
