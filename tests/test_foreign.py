"""Importing ChatGPT's and Claude's data exports (memchat/foreign/)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.errors import ImportFormatError
from memchat.memory.context import Memory, store_recall
from memchat.store import Store
from memchat.transfer import import_file

from .foreign_exports import chatgpt_export, claude_export
from .helpers import reply, system_notes, texts_of
from .test_cli import Harness, ok

GPT_PLAIN = "chatgpt-c0ffee00-0000-4000-8000-000000000001"
GPT_BRANCHED = "chatgpt-c0ffee00-0000-4000-8000-000000000002"


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def session_texts(store: Store, user: str, session_id: str) -> list[str]:
    info = store.get_session(user, session_id)
    return texts_of(item for turn in store.get_turns(info) for item in turn.items)


async def test_a_chatgpt_export_is_remembered_in_a_new_session(
    any_store: Store, tmp_path: Path
) -> None:
    """The point of importing: memchat knows you from the first message."""
    archive = import_file(
        any_store, write(tmp_path / "conversations.json", chatgpt_export()), "sara"
    )
    assert len(archive.sessions) == 2  # one per conversation, branches and all
    assert session_texts(any_store, "sara", GPT_PLAIN) == [
        "My name is Sara and I live in Porto.",
        "Nice to meet you, Sara!",
        "Any tips for the Douro valley?",
        "Take the train from São Bento.",
    ]
    info = any_store.get_session("sara", GPT_PLAIN)
    assert info.title == "Moving to Porto"
    assert info.created_at.startswith("2023-11-14T22:13:20")
    assert [t.created_at[:19] for t in any_store.get_turns(info)] == [
        "2023-11-14T22:13:21",
        "2023-11-14T22:13:23",
    ]
    model = ScriptedModel([reply("In Porto.")])
    memory = Memory(any_store, budget=4000, recall=store_recall(any_store))
    chat = Chat(Agent(name="a", model=model), memory=memory)
    await chat.run_turn(any_store.session("sara", "new"), "Where do I live, again?")
    assert model.last_call is not None
    assert "user: My name is Sara and I live in Porto." in system_notes(model.last_call.input)


def test_chatgpt_branches_stay_branches_of_one_session(any_store: Store, tmp_path: Path) -> None:
    """The branch on screen is the active line; a regenerated reply and an edited
    question are branches of the same session, as /retry and /edit would have made."""
    import_file(any_store, write(tmp_path / "c.json", chatgpt_export()), "sara")
    assert [s.id for s in any_store.list_sessions("sara")] == [GPT_BRANCHED, GPT_PLAIN]
    assert session_texts(any_store, "sara", GPT_BRANCHED) == [
        "Ideas for dinner tonight?",
        "A caldo verde soup.",
        "Something with fish, please.",
        "Cod with chickpeas.",
    ]
    info = any_store.get_session("sara", GPT_BRANCHED)
    assert info.turn_count == 2
    assert [t.seq for t in any_store.get_turns(info)] == [2, 4]
    regenerated, edited = any_store.list_branches(info)
    # The first reply's branch holds the whole old turn, its question included.
    assert (regenerated.parent, regenerated.fork_seq, regenerated.turn_count) == (0, 0, 1)
    assert texts_of(any_store.branch_turns(info, regenerated.id)[0].items) == [
        "Ideas for dinner tonight?",
        "Grilled sardines.",
    ]
    assert (edited.parent, edited.fork_seq) == (0, 2)
    assert texts_of(any_store.branch_turns(info, edited.id)[0].items) == [
        "Something vegetarian, please.",
        "Roasted peppers with rice.",
    ]


def test_claude_exports_linear_and_with_parents(any_store: Store, tmp_path: Path) -> None:
    archive = import_file(any_store, write(tmp_path / "c.json", claude_export()), "sara")
    assert len(archive.sessions) == 2
    cats = "claude-11111111-1111-4111-8111-111111111111"
    assert session_texts(any_store, "sara", cats) == [
        "I have two cats called Miso and Tofu.",
        "Lovely names!",
        "Which one should get the bigger bed?",
        "The older one.",
    ]
    trip = "claude-22222222-2222-4222-8222-222222222222"
    # No pointer to the leaf on screen: the latest reply is taken as current.
    assert session_texts(any_store, "sara", trip) == [
        "Plan a weekend in Lisbon.",
        "Day one: Belém.",
    ]
    info = any_store.get_session("sara", trip)
    (retried,) = any_store.list_branches(info)
    assert (retried.parent, retried.fork_seq) == (0, 0)
    assert texts_of(any_store.branch_turns(info, retried.id)[0].items) == [
        "Plan a weekend in Lisbon.",
        "Day one: Alfama.",
    ]


def test_the_export_zip_is_read_and_a_second_import_skips_what_is_there(
    store: Store, tmp_path: Path
) -> None:
    bundle = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("user.json", "{}")
        archive.writestr("conversations.json", json.dumps(chatgpt_export()))
    assert len(import_file(store, bundle, "sara").sessions) == 2
    again = import_file(store, bundle, "sara")
    assert (again.sessions, again.skipped) == ([], 2)
    assert len(store.list_sessions("sara")) == 2


def test_learn_keeps_the_facts_the_user_stated(store: Store, tmp_path: Path) -> None:
    archive = import_file(store, write(tmp_path / "c.json", claude_export()), "sara", learn=True)
    facts = {f.key: f.value for f in store.list_facts("sara")}
    assert facts.get("cats") == "Miso and Tofu", facts
    assert len(archive.facts) == len(facts)
    assert not store.list_facts("ali")


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda d: d[1]["mapping"]["u2"].update(message="oops"), "conversation 2"),
        (lambda d: d[0]["mapping"]["a1"]["message"].update(content=[]), "node a1"),
        (lambda d: d[0].pop("conversation_id") and d[0].pop("id"), "no conversation id"),
    ],
)
def test_a_bad_export_names_the_place_and_imports_nothing(
    store: Store, tmp_path: Path, damage: object, named: str
) -> None:
    data = chatgpt_export()
    damage(data)  # type: ignore[operator]
    with pytest.raises(ImportFormatError, match=named):
        import_file(store, write(tmp_path / "c.json", data), "sara")
    assert store.list_users() == []


def test_json_that_is_no_known_export_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="not a ChatGPT or Claude export"):
        import_file(store, write(tmp_path / "x.json", [{"messages": []}]), "sara")
    bad_zip = tmp_path / "x.zip"
    with zipfile.ZipFile(bad_zip, "w") as archive:
        archive.writestr("notes.txt", "hi")
    with pytest.raises(ImportFormatError, match=r"without conversations\.json"):
        import_file(store, bad_zip, "sara")


def test_the_import_command_reads_an_export_and_learns(tmp_path: Path) -> None:
    bundle = tmp_path / "claude.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("conversations.json", json.dumps(claude_export()))
    memchat = Harness()
    out = ok(memchat("import", str(bundle), "-u", "sara", "--learn"))
    assert out.startswith(
        "imported 2 session(s), 3 turns (and 1 on 1 branch), 1 fact(s): sara/claude-1111"
    )
    assert "skipped 2 imported before" in ok(memchat("import", str(bundle), "-u", "sara"))
    facts = ok(memchat("memory", "list", "-u", "sara"))
    assert "Miso and Tofu" in facts
