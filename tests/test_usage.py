"""Usage per turn: what the model reported and how long the turn took, stored with the turn
(on both backends), summed by ``Store.usage``, exported and imported, and shown by
``memchat usage``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agents import Agent, function_tool
from agents.testing import ModelStep, ScriptedModel, function_call
from agents.usage import Usage
from click.testing import CliRunner, Result

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import ImportFormatError, MemchatError, ModelCallFailed
from memchat.models import ModelChoice
from memchat.store import Store
from memchat.store.usage import TurnUsage
from memchat.transfer import import_file, read_jsonl, session_records, write_jsonl

from .helpers import reply, user_message

DAY1 = "2026-11-30T10:00:00.000000Z"
DAY2 = "2026-12-01T09:30:00.000000Z"


def usage(inputs: int, outputs: int, requests: int = 1) -> Usage:
    return Usage(
        requests=requests,
        input_tokens=inputs,
        output_tokens=outputs,
        total_tokens=inputs + outputs,
    )


def metered_chat(model: ScriptedModel, name: str | None = "gpt-test") -> Chat:
    return Chat(Agent(name="test", instructions="be brief", model=model), model_name=name)


def turn(store: Store, session: str, text: str, cost: TurnUsage | None, at: str) -> int:
    info = store.ensure_session("sara", session)
    return store.commit_turn(
        info,
        [user_message(text), {"role": "assistant", "content": f"re: {text}"}],
        created_at=at,
        usage=cost,
    )


async def test_a_chat_turn_stores_what_the_model_reported(store: Store) -> None:
    model = ScriptedModel([reply("Hello Sara")], default_usage=usage(812, 23))
    session = store.session("sara", "s1")
    result = await metered_chat(model).run_turn(session, "hi")

    stored = store.turn_usage(session.info)
    assert list(stored) == [1]
    cost = stored[1]
    assert result.usage == cost  # the turn's result says what was stored
    assert (cost.model, cost.input_tokens, cost.output_tokens, cost.requests) == (
        "gpt-test",
        812,
        23,
        1,
    )
    assert cost.first_token_ms is not None and cost.total_ms is not None
    assert 0 <= cost.first_token_ms <= cost.total_ms


async def test_a_turn_with_tool_calls_sums_its_model_calls(store: Store) -> None:
    @function_tool
    def clock() -> str:
        """The time."""
        return "noon"

    model = ScriptedModel(
        [
            ModelStep(output=[function_call("clock", {}, call_id="c1")], usage=usage(100, 5)),
            ModelStep(output=reply("It is noon."), usage=usage(130, 7)),
        ]
    )
    agent = Agent(name="test", model=model, tools=[clock])
    session = store.session("sara", "s1")
    await Chat(agent).run_turn(session, "what time is it?")

    cost = store.turn_usage(session.info)[1]
    assert (cost.requests, cost.input_tokens, cost.output_tokens) == (2, 230, 12)
    # Without a configured name, the model as it names itself.
    assert cost.model == "ScriptedModel"


async def test_a_failed_turn_stores_no_usage(store: Store) -> None:
    model = ScriptedModel([RuntimeError("boom")], default_usage=usage(5, 5))
    session = store.session("sara", "s1")
    with pytest.raises(ModelCallFailed):
        await metered_chat(model).run_turn(session, "hi")
    assert store.turn_usage(session.info) == {}
    assert store.usage("sara") == []


async def test_a_regenerated_reply_keeps_the_cost_of_the_reply_it_replaced(
    store: Store,
) -> None:
    # The old reply stays as a branch, and what it cost was spent: both are counted.
    model = ScriptedModel([reply("one"), reply("two")])
    model.set_default_usage(usage(10, 1))
    chat = metered_chat(model)
    session = store.session("sara", "s1")
    await chat.run_turn(session, "hi")
    model.set_default_usage(usage(20, 2))
    await chat.run_turn(session, "hi", replace_last=True)

    assert {seq: u.input_tokens for seq, u in store.turn_usage(session.info).items()} == {
        1: 10,
        2: 20,
    }
    (total,) = store.usage("sara")
    assert (total.turns, total.input_tokens, total.output_tokens) == (2, 30, 3)
    assert [t.seq for t in store.get_turns(session.info)] == [2]


def test_usage_goes_with_its_turn_session_and_user(store: Store) -> None:
    cost = TurnUsage("m", 10, 1)
    turn(store, "a", "one", cost, DAY1)
    turn(store, "a", "two", cost, DAY1)
    turn(store, "b", "three", cost, DAY1)
    a = store.get_session("sara", "a")

    store.pop_turn(a)
    assert list(store.turn_usage(a)) == [1]
    store.delete_session("sara", "b")
    assert [(t.key, t.turns) for t in store.usage("sara", by="session")] == [("a", 1)]
    store.clear_session(store.get_session("sara", "a"))
    assert store.usage("sara") == []

    turn(store, "c", "four", cost, DAY1)
    store.delete_user("sara")
    store.ensure_user("sara")
    assert store.usage("sara") == []


def test_usage_is_summed_per_day_model_and_session(store: Store) -> None:
    turn(store, "a", "one", TurnUsage("big", 100, 10, first_token_ms=400, total_ms=1000), DAY1)
    turn(store, "a", "two", TurnUsage("big", 300, 30, first_token_ms=600, total_ms=3000), DAY2)
    turn(store, "b", "three", TurnUsage("small", 50, 5, first_token_ms=None, total_ms=500), DAY2)
    turn(store, "b", "four", None, DAY2)  # an unmetered turn (imported, say) counts nothing
    store.commit_turn(
        store.ensure_session("ali", "x"), [user_message("hi")], usage=TurnUsage("big", 9, 9)
    )

    days = store.usage("sara", by="day")
    assert [(d.key, d.turns, d.input_tokens, d.output_tokens) for d in days] == [
        ("2026-11-30", 1, 100, 10),
        ("2026-12-01", 2, 350, 35),
    ]
    # Averages over the turns that have the time.
    assert (days[1].first_token_ms, days[1].total_ms) == (600, 1750)

    models = store.usage("sara", by="model")
    assert [(m.key, m.turns, m.total_tokens) for m in models] == [("big", 2, 440), ("small", 1, 55)]
    sessions = store.usage("sara", by="session")
    assert [(s.key, s.turns, s.total_tokens) for s in sessions] == [("a", 2, 440), ("b", 1, 55)]

    assert [d.key for d in store.usage("sara", since="2026-12-01T00:00:00.000000Z")] == [
        "2026-12-01"
    ]
    only_b = store.usage("sara", session_id="b", by="model")
    assert [(m.key, m.total_tokens) for m in only_b] == [("small", 55)]
    assert [(t.key, t.total_tokens) for t in store.usage("ali", by="session")] == [("x", 18)]

    with pytest.raises(MemchatError, match="cannot group usage by 'week'"):
        store.usage("sara", by="week")


def test_usage_is_exported_and_imported_with_its_turns(store: Store, tmp_path: Path) -> None:
    turn(store, "a", "one", TurnUsage("big", 100, 10, 2, 400, 1000), DAY1)
    turn(store, "a", "two", None, DAY2)
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_jsonl(session_records(store, [store.get_session("sara", "a")]), out)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line.get("usage") for line in lines if line["type"] == "turn"] == [
        {
            "model": "big",
            "input_tokens": 100,
            "output_tokens": 10,
            "requests": 2,
            "first_token_ms": 400,
            "total_ms": 1000,
        },
        None,
    ]

    import_file(store, path, user="ali")
    copied = store.get_session("ali", "a")
    assert store.turn_usage(copied) == {1: TurnUsage("big", 100, 10, 2, 400, 1000)}
    assert store.usage("ali") == store.usage("sara")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("3", "usage must be an object"),
        ('{"input_tokens": 1, "output_tokens": 1}', "usage needs a model name"),
        ('{"model": "m", "input_tokens": -1, "output_tokens": 1}', "usage input_tokens must"),
        ('{"model": "m", "input_tokens": true, "output_tokens": 1}', "usage input_tokens must"),
        ('{"model": "m", "input_tokens": 1, "output_tokens": 1, "requests": "2"}', "usage requ"),
    ],
)
def test_a_bad_usage_in_an_export_imports_nothing_and_names_the_line(
    tmp_path: Path, bad: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"type": "memchat-export", "version": 2}\n'
        '{"type": "session", "user": "sara", "id": "a"}\n'
        '{"type": "turn", "items": [{"role": "user", "content": "hi"}], "usage": ' + bad + "}\n"
        '{"type": "end", "sessions": 1, "turns": 1, "facts": 0}\n'
    )
    with pytest.raises(ImportFormatError, match=f"bad.jsonl:3: {message}"):
        read_jsonl(path)


# -- memchat usage --------------------------------------------------------------------------


def memchat(*args: str, model: ScriptedModel | None = None) -> Result:
    scripted = model or ScriptedModel()
    app = App(model_factory=lambda _: ModelChoice(scripted, "scripted", "test-model"))
    return CliRunner().invoke(cli, list(args), obj=app)


def test_memchat_usage_shows_asked_turns_by_day_model_and_session() -> None:
    model = ScriptedModel([reply("Hi"), reply("Hello again")])
    model.set_default_usage(usage(1200, 34))
    assert memchat("ask", "-u", "sara", "hi", model=model).exit_code == 0
    assert memchat("ask", "-u", "sara", "--new", "hey", model=model).exit_code == 0

    shown = memchat("usage", "-u", "sara", "--by", "model")
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if "test-model" in line)
    assert row.split()[:5] == ["test-model", "2", "2,400", "68", "2,468"]

    data = json.loads(memchat("usage", "-u", "sara", "--by", "session", "--json").output)
    assert [(r["turns"], r["input_tokens"], r["output_tokens"]) for r in data["rows"]] == [
        (1, 1200, 34),
        (1, 1200, 34),
    ]
    assert (data["total"]["turns"], data["total"]["total_tokens"]) == (2, 2468)
    assert data["user"] == "sara" and data["by"] == "session" and data["since"] is None

    recent = json.loads(memchat("usage", "-u", "sara", "--since", "1h", "--json").output)
    assert recent["total"]["turns"] == 2 and recent["since"] > "2026"
    assert len(recent["rows"]) == 1  # one day

    other = memchat("usage", "-u", "ali")
    assert other.exit_code == 1 and other.output == "Error: no user 'ali'\n"


def test_memchat_usage_errors_are_one_line() -> None:
    assert memchat("ask", "-u", "sara", "hi", model=ScriptedModel([reply("Hi")])).exit_code == 0
    for args, message in [
        (("--since", "3x"), "Error: invalid age '3x'"),
        (("--session", "nope"), "Error: user 'sara' has no session 'nope'"),
    ]:
        result = memchat("usage", "-u", "sara", *args)
        assert result.exit_code == 1 and result.output.startswith(message), result.output
    bad = memchat("usage", "-u", "sara", "--by", "week")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    empty = memchat("usage", "-u", "sara", "--since", "1h", "--by", "model")
    assert "test-model" in empty.output
