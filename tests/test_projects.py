"""Memory scoped to a project: a scoped project's facts and recall are its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel, function_call
from click.testing import CliRunner

from memchat.chat import Chat
from memchat.cli import cli
from memchat.cli.app import App
from memchat.errors import InvalidName, ProjectNotFound
from memchat.memory.context import Memory, store_recall
from memchat.memory.tools import MEMORY_TOOLS
from memchat.store import SessionInfo, Store, open_store
from memchat.store.session import MemchatSession

from .helpers import reply, system_notes, user_message


def say(store: Store, info: SessionInfo, text: str) -> int:
    """Commit a turn saying ``text`` and learn from it as a chat does; its seq."""
    seq = store.commit_turn(info, [user_message(text), {"role": "assistant", "content": "ok"}])
    Memory(store, budget=4000).learn(info, text, seq)
    return seq


def facts(store: Store, project: str | None = None) -> dict[tuple[str, str], str]:
    return {(f.project, f.key): f.value for f in store.list_facts("sara", project=project)}


def test_sessions_belong_to_projects_listed_and_moved(store: Store) -> None:
    store.create_session("sara", "a", project="thesis")
    store.create_session("sara", "b")
    store.create_session("sara", "c", project="garden")
    assert {s.id for s in store.list_sessions("sara", project="thesis")} == {"a"}
    assert {s.id for s in store.list_sessions("sara", project="")} == {"b"}
    assert {s.id for s in store.list_sessions("sara")} == {"a", "b", "c"}
    moved = store.set_session_project("sara", "b", "thesis")
    assert (moved.project, moved.scoped) == ("thesis", False)
    assert {s.id for s in store.list_sessions("sara", project="thesis")} == {"a", "b"}
    found = {p.name: (p.scoped, p.sessions) for p in store.list_projects("sara")}
    assert found == {"garden": (False, 1), "thesis": (False, 2)}
    store.set_project_memory("sara", "thesis", scoped=True)
    info = store.get_session("sara", "a")
    assert (info.scoped, info.memory_scope) == (True, "thesis")
    assert store.set_session_project("sara", "a", "").memory_scope is None
    with pytest.raises(InvalidName):
        store.create_session("sara", "d", project="no spaces")
    with pytest.raises(ProjectNotFound):
        store.get_project("sara", "nothing")


def test_a_key_has_one_value_per_project_and_forgets_in_its_own(store: Store) -> None:
    store.ensure_user("sara")
    store.set_fact("sara", "language", "Python", "manual")
    store.set_fact("sara", "language", "Rust", "manual", project="thesis")
    store.set_fact("sara", "language", "Go", "manual", project="thesis")
    assert facts(store) == {("", "language"): "Python", ("thesis", "language"): "Go"}
    assert facts(store, "") == {("", "language"): "Python"}
    assert [v.value for v in store.fact_history("sara", "language", project="thesis")] == ["Rust"]
    assert store.fact_history("sara", "language", project="") == []
    gone = store.forget_fact("sara", "language", project="thesis")
    assert (gone.project, gone.value) == ("thesis", "Go")
    assert facts(store) == {("", "language"): "Python"}
    assert store.fact_history("sara") == []  # its earlier value went with it
    kept = store.set_fact("sara", "tool", "vim", "manual", project="thesis")
    assert store.forget_fact("sara", str(kept.id)).project == "thesis"  # an id names one


def test_facts_are_learned_where_they_are_said(store: Store) -> None:
    scoped = store.create_session("sara", "s", project="thesis")
    store.set_project_memory("sara", "thesis", scoped=True)
    scoped = store.get_session("sara", "s")
    shared = store.create_session("sara", "g", project="garden")
    plain = store.create_session("sara", "p")
    say(store, scoped, "My favourite language is Rust")
    say(store, shared, "My favourite tool is a rake")
    say(store, plain, "My name is Sara")
    assert facts(store) == {
        ("thesis", "favourite language"): "Rust",
        ("", "favourite tool"): "a rake",
        ("", "name"): "Sara",
    }
    assert {p.name: p.facts for p in store.list_projects("sara")} == {"garden": 0, "thesis": 1}
    # Undoing the turn that taught the project's fact takes it, as everywhere.
    store.pop_turn(scoped)
    assert ("thesis", "favourite language") not in facts(store)


def test_a_project_fact_falls_back_within_its_project(store: Store) -> None:
    store.ensure_user("sara")
    store.set_fact("sara", "editor", "emacs", "manual")
    store.set_project_memory("sara", "thesis", scoped=True)
    info = store.create_session("sara", "s", project="thesis")
    store.set_fact("sara", "editor", "vim", "manual", project="thesis")
    say(store, info, "My editor is helix")
    assert facts(store, "thesis") == {("thesis", "editor"): "helix"}
    store.pop_turn(info)
    # Back to the project's earlier value, never to the user-wide one.
    assert facts(store) == {("", "editor"): "emacs", ("thesis", "editor"): "vim"}


def test_deleting_a_project_forgets_its_facts_and_keeps_its_sessions(store: Store) -> None:
    store.create_session("sara", "s", project="thesis")
    store.set_fact("sara", "topic", "graphs", "manual", project="thesis")
    store.set_fact("sara", "name", "Sara", "manual")
    assert store.delete_project("sara", "thesis") == 1
    assert facts(store) == {("", "name"): "Sara"}
    assert store.get_session("sara", "s").project == ""
    assert store.list_projects("sara") == []


def test_search_and_recall_queries_keep_to_a_project(store: Store) -> None:
    inside = store.create_session("sara", "in", project="thesis")
    outside = store.create_session("sara", "out")
    store.commit_turn(inside, [user_message("the zebrafinch experiment ran")])
    store.commit_turn(outside, [user_message("a zebrafinch sang outside")])
    hits = store.search("sara", "zebrafinch", project="thesis")
    assert [h.session_id for h in hits] == ["in"]
    assert {h.session_id for h in store.search("sara", "zebrafinch")} == {"in", "out"}
    matched = store.match_messages("sara", ["zebrafinch"], limit=10, project="thesis")
    assert [m.session_id for m in matched] == ["in"]
    every = store.all_messages("sara", limit=100, project="")
    assert every is not None and [m.session_id for m in every] == ["out"]


def test_open_session_finds_or_makes_a_session_of_the_project(store: Store) -> None:
    plain = store.open_session("sara")
    first = store.open_session("sara", project="thesis")
    assert first.id != plain.id and first.project == "thesis"
    assert store.open_session("sara", project="thesis").id == first.id  # the current one
    store.open_session("sara", plain.id)
    assert store.open_session("sara", project="thesis").id == first.id  # its most recent
    moved = store.open_session("sara", plain.id, project="garden")
    assert (moved.id, moved.project) == (plain.id, "garden")


# -- what the model is given ---------------------------------------------------------------


def chat_with(store: Store, *steps: Any) -> tuple[Chat, ScriptedModel]:
    model = ScriptedModel(list(steps))
    agent: Agent[Any] = Agent(name="a", model=model, tools=list(MEMORY_TOOLS))
    memory = Memory(store, budget=4000, recall=store_recall(store))
    return Chat(agent, memory=memory), model


def given(model: ScriptedModel) -> str:
    """Memory's system notes in what the model was last given."""
    assert model.last_call is not None
    return system_notes(model.last_call.input)


async def test_a_scoped_projects_facts_reach_its_sessions_only(store: Store) -> None:
    store.ensure_user("sara")
    store.set_project_memory("sara", "thesis", scoped=True)
    store.set_project_memory("sara", "novel", scoped=True)
    store.create_session("sara", "t1", project="thesis")
    store.create_session("sara", "t2", project="thesis")
    store.create_session("sara", "n1", project="novel")
    store.create_session("sara", "plain")
    chat, model = chat_with(store, *(reply("ok") for _ in range(6)))
    await chat.run_turn(store.session("sara", "plain"), "My name is Sara")
    await chat.run_turn(store.session("sara", "t1"), "My favourite language is Rust")
    await chat.run_turn(store.session("sara", "plain"), "My favourite language is Python")

    await chat.run_turn(store.session("sara", "t2"), "Which language?")
    notes = given(model)
    # User-wide facts are given in the project; the project's wins on its key.
    assert "- name: Sara" in notes and "- favourite language: Rust" in notes
    assert "Python" not in notes
    await chat.run_turn(store.session("sara", "n1"), "Which language?")
    assert "- name: Sara" in given(model)
    assert "Rust" not in given(model) and "- favourite language: Python" in given(model)
    await chat.run_turn(store.session("sara", "plain"), "Which language?")
    assert "Rust" not in given(model) and "- favourite language: Python" in given(model)


async def test_recall_in_a_scoped_project_finds_nothing_of_other_sessions(store: Store) -> None:
    store.ensure_user("sara")
    store.set_project_memory("sara", "thesis", scoped=True)
    thesis = store.create_session("sara", "t", project="thesis")
    other = store.create_session("sara", "o")
    store.commit_turn(other, [user_message("The zebrafinch colony lives in aviary nine")])
    store.commit_turn(thesis, [user_message("Chapter two covers the starling data")])
    chat, model = chat_with(store, reply("ok"), reply("ok"))
    await chat.run_turn(MemchatSession(store, store.get_session("sara", "t")), "zebrafinch?")
    assert "zebrafinch colony" not in given(model)
    # The same question outside the project does recall it.
    await chat.run_turn(MemchatSession(store, store.create_session("sara", "x")), "zebrafinch?")
    assert "zebrafinch colony" in given(model)


async def test_the_remember_tool_writes_to_the_scoped_project(store: Store) -> None:
    store.ensure_user("sara")
    store.set_project_memory("sara", "thesis", scoped=True)
    store.create_session("sara", "t", project="thesis")
    store.set_fact("sara", "deadline", "June", "manual")
    chat, _model = chat_with(
        store,
        [function_call("remember", {"key": "deadline", "value": "May"}, call_id="c1")],
        reply("noted"),
        [function_call("forget", {"key": "deadline"}, call_id="c2")],
        reply("forgotten"),
    )
    await chat.run_turn(store.session("sara", "t"), "The thesis is due in May")
    assert facts(store) == {("", "deadline"): "June", ("thesis", "deadline"): "May"}
    # Forgetting in the project forgets what the session sees under the key: both.
    result = await chat.run_turn(store.session("sara", "t"), "Forget the deadline")
    assert result.changes.forgotten == ("deadline",)
    assert facts(store) == {}


# -- the command line ----------------------------------------------------------------------


def memchat(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj=App())


def test_projects_on_the_command_line(memchat_env: Path) -> None:
    made = memchat("sessions", "new", "--id", "t1", "--project", "thesis", "--user", "sara")
    assert made.exit_code == 0 and made.output.strip() == "t1", made.output
    memchat("sessions", "new", "--id", "p1", "--user", "sara")
    listed = memchat("sessions", "list", "--project", "thesis", "--user", "sara", "--json")
    assert [s["id"] for s in json.loads(listed.output)] == ["t1"]
    assert memchat("projects", "scope", "thesis", "--user", "sara").exit_code == 0
    memchat("memory", "add", "topic", "graphs", "--project", "thesis", "--user", "sara")
    memchat("memory", "add", "topic", "birds", "--user", "sara")
    shown = memchat("memory", "list", "--user", "sara")
    assert "thesis" in shown.output and "graphs" in shown.output and "birds" in shown.output
    only = memchat("memory", "list", "--project", "", "--user", "sara", "--json")
    assert [f["value"] for f in json.loads(only.output)] == ["birds"]
    projects = json.loads(memchat("projects", "list", "--user", "sara", "--json").output)
    assert projects == [projects[0] | {"name": "thesis", "scoped": True, "sessions": 1}]
    assert projects[0]["facts"] == 1
    forgot = memchat("memory", "forget", "topic", "--project", "thesis", "--user", "sara")
    assert "forgot topic: graphs" in forgot.output
    moved = memchat("sessions", "move", "p1", "thesis", "--user", "sara")
    assert moved.output.strip() == "moved p1 to thesis"
    wrong = memchat("--project", "thesis", "sessions", "list")
    assert wrong.exit_code != 0 and "give it to the command" in wrong.output


def test_export_and_import_keep_projects(memchat_env: Path, tmp_path: Path) -> None:
    memchat("sessions", "new", "--id", "t1", "--project", "thesis", "--user", "sara")
    memchat("projects", "scope", "thesis", "--user", "sara")
    memchat("memory", "add", "topic", "graphs", "--project", "thesis", "--user", "sara")
    memchat("memory", "add", "name", "Sara", "--user", "sara")
    out = tmp_path / "sara.jsonl"
    assert memchat("export", "--user", "sara", "-o", str(out)).exit_code == 0
    other = tmp_path / "other.db"
    result = memchat("--db", str(other), "import", str(out))
    assert result.exit_code == 0, result.output
    with open_store(str(other)) as store:
        info = store.get_session("sara", "t1")
        assert (info.project, info.scoped) == ("thesis", True)
        assert facts(store) == {("thesis", "topic"): "graphs", ("", "name"): "Sara"}
