"""Per-user caps on sessions and facts: over one, a clear error and nothing written."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from agents.testing import ScriptedModel
from click.testing import CliRunner

from memchat.cli import cli
from memchat.cli.app import App
from memchat.config import load_settings
from memchat.errors import QuotaExceeded
from memchat.models import ModelChoice
from memchat.server import create_app
from memchat.store import Quotas, Store, open_store
from memchat.store.base import FactRecord, SessionRecord

from .helpers import reply
from .server_harness import add_user, client, sse_events

OLD = "2024-01-01T00:00:00.000000Z"


def test_caps_hold_for_every_way_of_adding(any_store: Store) -> None:
    store = any_store
    store.quotas = Quotas(sessions=3, facts=2)
    store.ensure_user("sara")
    for n in range(3):
        store.create_session("sara", f"s{n}")
    with pytest.raises(
        QuotaExceeded,
        match=r"^'sara' may have at most 3 sessions \(MEMCHAT_MAX_SESSIONS\), and this"
        " would make 4: delete some first$",
    ):
        store.create_session("sara", "s3")
    with pytest.raises(QuotaExceeded):
        store.ensure_session("sara", "s4")
    with pytest.raises(QuotaExceeded):
        store.open_session("sara", new=True)
    assert store.ensure_session("sara", "s1").id == "s1"  # an existing one is no new one

    store.set_fact("sara", "name", "Sara", "manual")
    store.set_fact("sara", "city", "Porto", "manual")
    assert store.set_fact("sara", "city", "Lisbon", "manual").value == "Lisbon"  # a change
    with pytest.raises(QuotaExceeded, match="at most 2 facts"):
        store.set_fact("sara", "pet", "cat", "manual")

    # An import over a cap stores none of what it brings, the other user's part included.
    with pytest.raises(QuotaExceeded, match="at most 3 sessions"):
        store.import_sessions(
            [
                SessionRecord("ali", "a", None, OLD, {}, []),
                SessionRecord("sara", "x", None, OLD, {}, []),
            ]
        )
    with pytest.raises(QuotaExceeded, match="at most 2 facts"):
        store.import_sessions([], [FactRecord("sara", "pet", "cat", "import", OLD)])
    assert store.find_session("ali", "a") is None
    assert [s.id for s in store.list_sessions("sara")] == ["s2", "s1", "s0"]
    assert {f.key for f in store.list_facts("sara")} == {"name", "city"}

    # The caps are each user's: another user starts from nothing.
    store.create_session("ali", "a")
    store.set_fact("ali", "name", "Ali", "manual")
    # Deleting makes room again.
    store.delete_session("sara", "s0")
    store.create_session("sara", "s3")


def test_two_adds_at_once_cannot_both_take_the_last_place(pg_url: str) -> None:
    """On PostgreSQL each add locks the user's row before it counts; without the lock,
    both would count two sessions and both would add a third."""
    import psycopg

    from .pg import base_url, wait_for_waiters

    with open_store(pg_url, quotas=Quotas(sessions=3)) as store:
        store.create_session("sara", "s0")
        store.create_session("sara", "s1")
        outcomes: list[str] = []

        def create(session_id: str) -> None:
            try:
                store.create_session("sara", session_id)
                outcomes.append("created")
            except QuotaExceeded:
                outcomes.append("refused")

        schema = pg_url.split("schema=")[1]
        with psycopg.connect(base_url(pg_url)) as holder:
            # Inserts wait meanwhile (counts do not), so both adds are under way at once.
            holder.execute(f'LOCK TABLE "{schema}".sessions IN SHARE MODE')
            threads = [threading.Thread(target=create, args=(f"t{n}",)) for n in range(2)]
            for thread in threads:
                thread.start()
            wait_for_waiters(pg_url, holder.info.backend_pid, 2)
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(outcomes) == ["created", "refused"]
        assert len(store.list_sessions("sara")) == 3


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> None:
    """memchat configured with small caps: 2 sessions and 2 facts a user."""
    monkeypatch.setenv("MEMCHAT_DB", str(db_path))
    monkeypatch.setenv("MEMCHAT_MAX_SESSIONS", "2")
    monkeypatch.setenv("MEMCHAT_MAX_FACTS", "2")
    monkeypatch.setenv("MEMCHAT_MEMORY_TOOLS", "false")


def test_over_http_a_cap_is_a_409_and_a_turn_still_stores(capped: None, db_path: Path) -> None:
    model = ScriptedModel()
    app = create_app(
        load_settings(), model_factory=lambda _: ModelChoice(model, "scripted", "test")
    )
    with open_store(db_path) as store:
        headers = add_user(store, "sara")
    with client(app) as http:
        for name in ("a", "b"):
            assert http.post("/api/sessions", json={"id": name}, headers=headers).status_code == 201
        over = http.post("/api/sessions", json={}, headers=headers)
        assert over.status_code == 409
        assert over.json()["error"] == {
            "code": "quota_exceeded",
            "message": "'sara' may have at most 2 sessions (MEMCHAT_MAX_SESSIONS), and this"
            " would make 3: delete some first",
        }
        for key in ("city", "job"):
            fact = {"key": key, "value": "x"}
            assert http.post("/api/facts", json=fact, headers=headers).status_code == 200
        over = http.post("/api/facts", json={"key": "pet", "value": "cat"}, headers=headers)
        assert over.status_code == 409 and over.json()["error"]["code"] == "quota_exceeded"

        # A fact learned in a turn, over the cap, is not kept; the turn is, and says so.
        model.enqueue(reply("Hi Sara"))
        events = sse_events(
            http.post(
                "/api/sessions/a/messages", json={"text": "My name is Sara"}, headers=headers
            ).text
        )
        assert events[-1][0] == "done"
        assert events[-1][1]["memory"] == {"remembered": [], "forgotten": []}
        assert events[-1][1]["session"]["turn_count"] == 1
        facts = http.get("/api/facts", headers=headers).json()
        assert sorted(f["key"] for f in facts) == ["city", "job"]


def test_the_command_line_says_which_cap(capped: None) -> None:
    def memchat(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args), obj=App())
        return result.exit_code, result.output

    assert memchat("memory", "add", "city", "Porto", "-u", "sara")[0] == 0
    assert memchat("memory", "add", "job", "nurse", "-u", "sara")[0] == 0
    code, output = memchat("memory", "add", "pet", "cat", "-u", "sara")
    assert code == 1
    assert "Error: 'sara' may have at most 2 facts (MEMCHAT_MAX_FACTS)" in output
    assert "Traceback" not in output
