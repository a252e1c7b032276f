"""Deleting a session or a user deletes what was kept beside the store for it too: the
embedded model's saved prompt states (the conversation's tokens)."""

from __future__ import annotations

from pathlib import Path

from memchat.models.prompt_state import PromptStates
from memchat.models.resolve import PROMPT_STATES_DIR
from memchat.store import open_store

from .helpers import user_message
from .test_cli import Harness, ok
from .test_server_api import Api


def plant(home: Path, user: str, session: str) -> Path:
    """A saved state file where the embedded model would keep the session's."""
    path = PromptStates(home / PROMPT_STATES_DIR, "m").path(user, session)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"the conversation's tokens")
    return path


def test_the_commands_that_delete_also_delete_saved_prompt_states(memchat_env: Path) -> None:
    memchat = Harness()
    with open_store(memchat_env / "memchat.db") as store:
        for user, session in (("sara", "a"), ("sara", "b"), ("sara", "c"), ("ali", "default")):
            store.commit_turn(store.ensure_session(user, session), [user_message("hi")])
    a, b, c = (plant(memchat_env, "sara", s) for s in "abc")
    ali = plant(memchat_env, "ali", "default")
    ok(memchat("sessions", "clear", "a", "-u", "sara", "--yes"))
    ok(memchat("sessions", "delete", "b", "-u", "sara", "--yes"))
    assert (a.exists(), b.exists(), c.exists()) == (False, False, True)
    ok(memchat("users", "delete", "sara", "--yes"))
    assert not c.exists() and ali.exists()


def test_the_api_that_deletes_also_deletes_saved_prompt_states(
    store: object, memchat_env: Path
) -> None:
    api = Api(store)  # type: ignore[arg-type]
    with api.client:
        for session in ("a", "b"):
            api.client.post("/api/sessions", json={"id": session}, headers=api.sara)
        a, b = plant(memchat_env, "sara", "a"), plant(memchat_env, "sara", "b")
        assert api.client.post("/api/sessions/a/clear", headers=api.sara).status_code == 200
        assert api.client.delete("/api/sessions/b", headers=api.sara).status_code == 204
        assert not a.exists() and not b.exists()


def test_pruning_old_turns_deletes_saved_prompt_states(memchat_env: Path) -> None:
    memchat = Harness()
    with open_store(memchat_env / "memchat.db") as store:
        store.commit_turn(store.ensure_session("sara", "a"), [user_message("hi")])
    state = plant(memchat_env, "sara", "a")
    ok(memchat("prune", "--older-than", "1h", "--yes"))  # nothing that old: kept
    assert state.exists()
    ok(memchat("prune", "--older-than", "0h", "--yes"))
    assert not state.exists()
