"""A pytest plugin that runs the Agents SDK's own tests against memchat sessions.

Loaded with ``-p memchat_swap`` into a run of the tests of the SDK's source distribution
(``conformance/run.py`` does it). Before any test module is imported, the SDK's
``SQLiteSession`` is replaced, wherever the tests import it from, by a class with its
constructor whose instances are memchat sessions (``MemchatSession`` on a ``SQLiteStore``
at the same path; ``:memory:`` is a store of its own, as it is a database of its own for
the SDK). The tests' assertions are unchanged.

Each test's outcome, and whether it built such a session, is written as JSON to the file
named by ``MEMCHAT_CONFORMANCE_RESULTS``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import agents
import agents.memory
import agents.memory.sqlite_session
import pytest
from agents.memory.session_settings import SessionSettings

from memchat.store import MemchatSession, open_store

# Every SDK session belongs to this memchat user; its session_id is the memchat session id.
USER = "sdk"

_built: list[str] = []


class MemchatSQLiteSession(MemchatSession):
    """``SQLiteSession(session_id, db_path, ...)``, stored by memchat."""

    def __init__(
        self,
        session_id: str,
        db_path: str | Path = ":memory:",
        sessions_table: str = "agent_sessions",
        messages_table: str = "agent_messages",
        session_settings: SessionSettings | None = None,
    ) -> None:
        # The table names have no meaning for memchat, whose schema is its own.
        store = open_store(str(db_path))
        super().__init__(store, store.ensure_session(USER, session_id), session_settings)
        _built.append(session_id)

    def close(self) -> None:
        """Close the store's connection (as ``SQLiteSession.close``)."""
        self.store.close()


agents.SQLiteSession = MemchatSQLiteSession  # type: ignore[attr-defined,misc]
agents.memory.SQLiteSession = MemchatSQLiteSession  # type: ignore[attr-defined,misc]
agents.memory.sqlite_session.SQLiteSession = MemchatSQLiteSession  # type: ignore[misc]

_results: dict[str, dict[str, Any]] = {}


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _built.clear()
    _results[nodeid] = {"outcome": "passed", "memchat": False, "message": ""}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    result = _results[report.nodeid]
    if report.failed:
        result["outcome"] = "failed" if report.when == "call" else "error"
        text = str(report.longrepr) if report.longrepr is not None else ""
        # The assertion or error line: what a person reads first in pytest's output.
        lines = [line for line in text.splitlines() if line.startswith("E ")]
        result["message"] = (lines[0][1:].strip() if lines else text[-300:])[:300]
    elif report.skipped and result["outcome"] == "passed":
        result["outcome"] = "skipped"
    if _built:
        result["memchat"] = True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("MEMCHAT_CONFORMANCE_RESULTS")
    if target:
        Path(target).write_text(json.dumps(_results, indent=1, sort_keys=True))
