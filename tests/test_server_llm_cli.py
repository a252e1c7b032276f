"""simonw/llm, a real OpenAI client, pointed at memchat's /v1 through its
OpenAI-compatible model config: a new conversation answers from memory.

llm runs from its own virtualenv (`make llm`), as its dependencies are its own; the test
skips, saying why, where it is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from agents.testing import ScriptedModel

from memchat.store import Store

from .helpers import reply, system_notes, texts_of
from .server_harness import LiveServer, add_user, scripted_app

LLM_VENV = Path(__file__).parents[1] / ".venv" / "llm-cli" / "bin" / "llm"


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: this test is about the llm client, not the store.

    (test_server_turns runs the server on both backends.)
    """
    return sqlite_store


def llm_command() -> str:
    if LLM_VENV.exists():
        return str(LLM_VENV)
    found = shutil.which("llm")
    if found is None:
        pytest.skip("llm is not installed (`make llm` puts it in .venv/llm-cli)")
    return found


def test_llm_remembers_across_conversations(tmp_path: Path, store: Store) -> None:
    llm = llm_command()
    model = ScriptedModel(
        [reply("Nice to meet you, Sara."), reply("Your name is Sara."), reply("Still Sara.")]
    )
    token = add_user(store, "sara")["Authorization"].removeprefix("Bearer ")
    user_path = tmp_path / "llm"
    user_path.mkdir()
    with LiveServer(scripted_app(store, model)) as live:
        (user_path / "extra-openai-models.yaml").write_text(
            "- model_id: memchat\n"
            "  model_name: memchat\n"
            f'  api_base: "{live.url}/v1"\n'
            "  api_key_name: memchat\n"
        )
        (user_path / "keys.json").write_text(json.dumps({"memchat": token}))
        env = {**os.environ, "LLM_USER_PATH": str(user_path)}

        def run(*args: str) -> str:
            done = subprocess.run(
                [llm, *args], env=env, capture_output=True, text=True, timeout=60, check=False
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        assert run("-m", "memchat", "My name is Sara") == "Nice to meet you, Sara."
        # A new conversation: llm sends only this message; memchat's memory knows the name.
        assert run("-m", "memchat", "What's my name?") == "Your name is Sara."
        assert model.last_call is not None
        assert "Sara" in system_notes(model.last_call.input)
        # -c continues llm's last conversation, resending it: the same memchat session.
        assert run("-c", "Are you sure?") == "Still Sara."

    sessions = {s.id: s.turn_count for s in store.list_sessions("sara")}
    assert sorted(sessions.values()) == [1, 2]
    assert texts_of(model.last_call.input)[-3:] == [
        "What's my name?",
        "Your name is Sara.",
        "Are you sure?",
    ]
