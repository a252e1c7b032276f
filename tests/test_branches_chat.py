"""Branches through a turn: what the model sees when a turn is edited, a failed rerun, the
SDK session, the terminal's commands, ``memchat sessions fork`` and the HTTP API."""

from __future__ import annotations

import json

import pytest
from agents import Agent, Runner
from agents.testing import ScriptedModel
from click.testing import CliRunner, Result

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import IncompleteAnswer, TurnNotFound
from memchat.memory.context import Memory, store_recall
from memchat.models import ModelChoice
from memchat.store import Store

from .helpers import reply, texts_of
from .server_harness import add_user, client, scripted_app, sse_events


def memory_chat(store: Store, *replies: str) -> tuple[Chat, ScriptedModel]:
    model = ScriptedModel([reply(text) for text in replies])
    memory = Memory(store, budget=4000, recall=store_recall(store))
    return Chat(Agent(name="a", model=model), memory=memory), model


async def test_an_edited_turn_is_answered_from_the_turns_before_it(store: Store) -> None:
    chat, model = memory_chat(store, "Hi", "Blue is nice", "Noted", "Green is nice")
    session = store.session("sara", "s")
    await chat.run_turn(session, "Hello")
    await chat.run_turn(session, "I like the colour blue, aquamarine especially")
    await chat.run_turn(session, "Remember that")
    (_, second, _) = store.get_turns(session.info)
    result = await chat.run_turn(session, "I like green", edit_seq=second.seq)
    assert result.reply == "Green is nice"
    assert model.last_call is not None
    # The model saw the turn before the edited one, and nothing of the replaced turns, not
    # even through recall.
    assert texts_of(model.last_call.input) == ["Hello", "Hi", "I like green"]
    assert "aquamarine" not in json.dumps(model.last_call.input)
    assert texts_of(await session.get_items()) == ["Hello", "Hi", "I like green", "Green is nice"]
    (branch,) = store.list_branches(session.info)
    assert branch.turn_count == 2


async def test_a_failed_rerun_leaves_the_tree_as_it_was(store: Store) -> None:
    model = ScriptedModel([reply("Hi"), reply("Blue"), []])
    chat = Chat(Agent(name="a", model=model))
    session = store.session("sara", "s")
    await chat.run_turn(session, "Hello")
    await chat.run_turn(session, "Colour?")
    before = (store.get_items(session.info), store.list_branches(session.info))
    last = store.last_turn(session.info)
    assert last is not None
    with pytest.raises(IncompleteAnswer):
        await chat.run_turn(session, "Color?", edit_seq=last.seq)
    assert (store.get_items(session.info), store.list_branches(session.info)) == before
    with pytest.raises(TurnNotFound):
        await chat.run_turn(session, "x", edit_seq=last.seq + 5)


async def test_a_plain_sdk_run_sees_the_active_branch(store: Store) -> None:
    model = ScriptedModel([reply("A"), reply("B"), reply("B2"), reply("C")])
    agent = Agent(name="a", model=model)
    session = store.session("sara", "s")
    await Runner.run(agent, "one", session=session)
    await Runner.run(agent, "two", session=session)
    second = store.get_turns(session.info)[1]
    store.commit_turn(session.info, [{"role": "user", "content": "TWO"}], edit_seq=second.seq)
    await Runner.run(agent, "three", session=session)
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == ["one", "A", "TWO", "three"]


# -- the terminal and the CLI ----------------------------------------------------------------


def memchat(model: ScriptedModel, *args: str, input: str | None = None) -> Result:
    app = App(model_factory=lambda _: ModelChoice(model, "scripted", "test"))
    return CliRunner().invoke(cli, list(args), obj=app, input=input)


def test_edit_branches_and_branch_in_the_terminal() -> None:
    model = ScriptedModel([reply(t) for t in ("Hi", "Blue", "Green", "Blue again")])
    script = [
        "Hello",
        "Colour?",
        "/edit 2 Colour, please?",
        "/history",
        "/branches",
        "/branch 1",
        "/retry",
        "/branches",
        "/edit 9 x",
        "/branch 7",
        "exit",
    ]
    result = memchat(model, "chat", "-u", "sara", input="\n".join(script))
    out = result.output
    assert result.exit_code == 0, out
    assert "(the earlier version is branch 1: /branches)" in out
    assert "2 you  Colour, please? (also: branch 1)" in out
    assert "* active  2 turns" in out
    assert "1    turn 2           1 turn    Colour?" in out
    assert "switched to branch 1 (2 turns); the line you left is branch 1 now" in out
    # /retry made a sibling of the last reply: "Blue" is a branch now, like "Green".
    assert "(the earlier version is branch 2: /branches)" in out
    assert "2    turn 2           1 turn    Colour?" in out
    assert "no turn 9: this session has 2 turns" in out
    assert "the session has no branch 7" in out
    assert "Traceback" not in out
    (current,) = json.loads(memchat(model, "sessions", "list", "-u", "sara", "--json").output)
    show = ("sessions", "show", current["id"], "-u", "sara", "--json")
    shown = json.loads(memchat(model, *show).output)
    assert [texts_of(t["items"]) for t in shown["turns"]] == [
        ["Hello", "Hi"],
        ["Colour?", "Blue again"],
    ]
    assert sorted(len(b["turns"]) for b in shown["branches"]) == [1, 1]


def test_sessions_fork_copies_up_to_a_turn() -> None:
    model = ScriptedModel([reply(t) for t in ("A", "B", "C")])
    for text in ("one", "two", "three"):
        assert memchat(model, "ask", "-u", "sara", text).exit_code == 0
    (current,) = json.loads(memchat(model, "sessions", "list", "-u", "sara", "--json").output)
    result = memchat(model, "sessions", "fork", current["id"], "--at", "2", "-u", "sara")
    assert result.exit_code == 0, result.output
    new_id = result.output.strip()
    shown = json.loads(memchat(model, "sessions", "show", new_id, "-u", "sara", "--json").output)
    assert [texts_of(t["items"]) for t in shown["turns"]] == [["one", "A"], ["two", "B"]]
    bad = memchat(model, "sessions", "fork", current["id"], "--at", "4", "-u", "sara")
    assert bad.exit_code == 1 and "no turn 4: this session has 3 turns" in bad.output
    assert "Traceback" not in bad.output


# -- the HTTP API ----------------------------------------------------------------------------


def test_edit_list_activate_and_fork_over_http(any_store: Store) -> None:
    store = any_store
    model = ScriptedModel([reply(t) for t in ("Hi", "Blue", "Green")])
    http = client(scripted_app(store, model))
    headers = add_user(store, "sara")
    base = "/api/sessions/s"
    for text in ("Hello", "Colour?"):
        body = {"text": text, "create": text == "Hello"}
        assert http.post(f"{base}/messages", json=body, headers=headers).status_code == 200
    turns = http.get(f"{base}/messages", headers=headers).json()["turns"]
    body = {"text": "Colour, please?", "edit_seq": turns[1]["seq"]}
    events = sse_events(http.post(f"{base}/messages", json=body, headers=headers).text)
    assert events[-1][0] == "done" and events[0] == ("delta", {"text": "Green"})
    (branch,) = http.get(f"{base}/branches", headers=headers).json()
    assert branch["first_message"] == "Colour?" and branch["fork_seq"] == turns[0]["seq"]
    assert branch["first_seq"] == turns[1]["seq"]
    kept = http.get(f"{base}/branches/{branch['id']}", headers=headers).json()
    assert [t["messages"][1]["text"] for t in kept] == ["Blue"]
    now = http.post(f"{base}/branches/{branch['id']}/activate", headers=headers)
    assert now.status_code == 200 and now.json()["turn_count"] == 2
    turns = http.get(f"{base}/messages", headers=headers).json()["turns"]
    assert [t["messages"][1]["text"] for t in turns] == ["Hi", "Blue"]
    forked = http.post(f"{base}/fork", json={"at_seq": turns[0]["seq"]}, headers=headers)
    assert forked.status_code == 201
    copy = http.get(f"/api/sessions/{forked.json()['id']}/messages", headers=headers).json()
    assert [t["messages"][0]["text"] for t in copy["turns"]] == ["Hello"]
    # Unknown turns and branches are 404s before anything runs; nobody else's session.
    missing = http.post(f"{base}/messages", json={"text": "x", "edit_seq": 99}, headers=headers)
    assert missing.status_code == 404 and "no turn 99" in missing.json()["error"]["message"]
    assert http.post(f"{base}/branches/9/activate", headers=headers).status_code == 404
    other = add_user(store, "ali")
    assert http.get(f"{base}/branches", headers=other).status_code == 404
