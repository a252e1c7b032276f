"""Rate limits on model turns: the arithmetic, the store's shared state, the HTTP answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from agents.testing import ScriptedModel

from memchat.errors import ConfigError, UserNotFound
from memchat.store import Store, open_store
from memchat.store.rates import RateLimit, parse_rate

from .helpers import reply
from .server_harness import add_user, client, scripted_app, sse_events


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("30/minute", RateLimit(30, 60)),
        ("30/min", RateLimit(30, 60)),
        ("500 / hours", RateLimit(500, 3600)),
        ("2/s", RateLimit(2, 1)),
        ("1000/day", RateLimit(1000, 86400)),
        ("off", None),
        ("", None),
        (None, None),
    ],
)
def test_a_rate_is_read_from_its_setting(text: str | None, limit: RateLimit | None) -> None:
    assert parse_rate(text) == limit


@pytest.mark.parametrize("text", ["30", "30/fortnight", "0/minute", "-1/hour", "many/day"])
def test_a_bad_rate_says_what_is_expected(text: str) -> None:
    with pytest.raises(ConfigError, match="like 30/minute"):
        parse_rate(text)


def test_a_burst_then_one_turn_per_interval() -> None:
    limit = RateLimit(3, 60)  # a burst of 3, then one every 20 s
    tat = None
    for now in (0.0, 0.0, 1.0):
        tat, wait = limit.take(tat, now)
        assert tat is not None and wait == 0
    assert limit.take(tat, 1.0) == (None, 19.0)
    assert limit.take(tat, 20.0)[1] == 0
    # Idle for long, the burst is whole again.
    for _ in range(3):
        tat, wait = limit.take(tat, 1000.0)
        assert wait == 0
    assert limit.take(tat, 1000.0)[1] == 20.0
    assert str(limit) == "3 turns per minute"


def test_the_store_keeps_one_limit_per_user_for_every_process(any_store: Store) -> None:
    limit = RateLimit(2, 60)
    any_store.ensure_user("sara")
    any_store.ensure_user("ali")
    assert any_store.take_turn_slot("sara", limit, now=1000.0) == 0
    assert any_store.take_turn_slot("sara", limit, now=1000.0) == 0
    assert any_store.take_turn_slot("sara", limit, now=1001.0) == 29.0
    # A refused turn counts nothing: 30 s later one slot is free, not none.
    assert any_store.take_turn_slot("sara", limit, now=1030.0) == 0
    assert any_store.take_turn_slot("ali", limit, now=1001.0) == 0
    with pytest.raises(UserNotFound):
        any_store.take_turn_slot("nobody", limit)


def test_two_stores_on_one_database_share_the_limit(db_path: Path) -> None:
    limit = RateLimit(2, 3600)
    with open_store(db_path) as one, open_store(db_path) as two:
        one.ensure_user("sara")
        assert one.take_turn_slot("sara", limit) == 0
        assert two.take_turn_slot("sara", limit) == 0
        assert one.take_turn_slot("sara", limit) > 0
        assert two.take_turn_slot("sara", limit) > 0


def test_over_the_limit_a_429_with_retry_after_and_no_model_call(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMCHAT_RATE_LIMIT", "2/hour")
    sara, ali = add_user(store, "sara"), add_user(store, "ali")
    model = ScriptedModel([reply("one"), reply("two"), reply("three")])
    with client(scripted_app(store, model)) as c:
        for headers in (sara, ali):
            c.post("/api/sessions", json={"id": "s"}, headers=headers)
        for text in ("a", "b"):
            sent = c.post("/api/sessions/s/messages", json={"text": text}, headers=sara)
            assert sse_events(sent.text)[-1][0] == "done"
        refused = c.post("/api/sessions/s/messages", json={"text": "c"}, headers=sara)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "2 turns per hour" in refused.json()["error"]["message"]
        assert 1700 < int(refused.headers["Retry-After"]) <= 1800
        # Another user has slots of their own.
        sent = c.post("/api/sessions/s/messages", json={"text": "d"}, headers=ali)
        assert sse_events(sent.text)[-1][0] == "done"
    assert len(model.calls) == 3
    assert store.get_session("sara", "s").turn_count == 2


def test_a_turn_comes_exactly_when_the_limit_allows_and_not_a_moment_before() -> None:
    limit = RateLimit(2, 10)  # one turn every 5 s, two at once
    assert limit.take(None, 100.0) == (105.0, 0.0)
    assert limit.take(105.0, 100.0) == (110.0, 0.0)  # the burst's second turn
    assert limit.take(110.0, 104.5) == (None, 0.5)  # half a second early: refused
    assert limit.take(110.0, 105.0) == (115.0, 0.0)  # on time
