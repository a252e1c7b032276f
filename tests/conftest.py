"""Shared fixtures: every test gets its own data directory and a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import set_tracing_disabled

from memchat.store import SQLiteStore, Store

# Plain Runner.run calls in tests would try to export traces to OpenAI.
set_tracing_disabled(True)


@pytest.fixture(autouse=True)
def memchat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point memchat at a fresh data dir and clear any model configuration."""
    home = tmp_path / "home"
    for var in (
        "MEMCHAT_DB",
        "MEMCHAT_USER",
        "MEMCHAT_MODEL",
        "MEMCHAT_BASE_URL",
        "MEMCHAT_API_KEY",
        "OPENAI_API_KEY",
        "MEMCHAT_SYSTEM_PROMPT",
        "MEMCHAT_AGENT_NAME",
        "MEMCHAT_MAX_INPUT_CHARS",
        "MEMCHAT_TRACING",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MEMCHAT_HOME", str(home))
    # A .env in the developer's working directory must not leak into tests.
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memchat.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with SQLiteStore(db_path) as opened:
        yield opened
