"""Commands that run no model start without importing the Agents SDK or openai.

Those take about a second to import (bench/startup.py measures the start-up times); the
test checks what is imported, in a new process, not how long it takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("agents", "openai", "prompt_toolkit", "rich.markdown")

# Runs each command in turn in one process and prints which HEAVY modules it had loaded
# after each.
PROGRAM = """
import json, sys
from memchat.cli import cli

heavy = {heavy!r}
seen = {{"import memchat.cli": [m for m in heavy if m in sys.modules]}}
for args in {commands!r}:
    try:
        cli.main(args, prog_name="memchat")
    except SystemExit as exit:
        assert not exit.code, (args, exit.code)
    seen[" ".join(args)] = [m for m in heavy if m in sys.modules]
print(json.dumps(seen))
"""

COMMANDS = [
    ["--version"],
    ["--help"],
    ["sessions", "--help"],
    ["memory", "add", "colour", "teal", "-u", "sara"],
    ["memory", "list", "-u", "sara"],
    ["sessions", "list", "-u", "sara"],
    ["users", "list"],
    ["search", "teal", "-u", "sara"],
    ["export", "-u", "sara", "-o", "sara.jsonl"],
]


def test_commands_without_a_model_do_not_import_the_sdk(memchat_env: Path) -> None:
    program = PROGRAM.format(heavy=HEAVY, commands=COMMANDS)
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {name: [] for name in seen}
    assert len(seen) == len(COMMANDS) + 1


def test_a_model_command_still_finds_what_it_imports_lazily(memchat_env: Path) -> None:
    # `memchat config` resolves the model: the SDK comes in when needed.
    program = PROGRAM.format(heavy=("agents",), commands=[["config"]])
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1])["config"] == ["agents"]
