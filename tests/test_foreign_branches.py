"""A ChatGPT conversation's tree imported as one session with memchat's branches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.errors import ImportFormatError
from memchat.memory.context import Memory, store_recall
from memchat.store import SessionInfo, Store
from memchat.transfer import import_file, session_records, write_jsonl

from .foreign_exports import T0, chatgpt_export, chatgpt_tree, gpt_conversation, gpt_message
from .helpers import reply, system_notes, texts_of

JAPAN = "chatgpt-c0ffee00-0000-4000-8000-00000000000a"


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def imported(store: Store, tmp_path: Path, *conversations: dict[str, Any]) -> SessionInfo:
    import_file(store, write(tmp_path / "conversations.json", list(conversations)), "sara")
    return store.get_session("sara", JAPAN)


def line(store: Store, info: SessionInfo) -> list[tuple[int, list[str]]]:
    """The active line's turns: (seq, texts)."""
    return [(t.seq, texts_of(t.items)) for t in store.get_turns(info)]


def branches(store: Store, info: SessionInfo) -> list[tuple[int, int, int, list[list[str]]]]:
    """Each branch: (id, parent, fork_seq, its turns' texts)."""
    return [
        (b.id, b.parent, b.fork_seq, [texts_of(t.items) for t in store.branch_turns(info, b.id)])
        for b in store.list_branches(info)
    ]


KYOTO = ["Plan a trip to Kyoto.", "Three days in Kyoto."]
FOOD = ["What about food?", "Ramen in Gion."]
TEMPLES = ["And temples?", "Kinkaku-ji at dawn."]
SUSHI = ["What about food?", "Sushi at Nishiki market."]
HOTELS = ["What about hotels?", "A ryokan near the station."]
CHEAPER = ["Cheaper ones?", "Hostels in Shimogyo."]
ONSEN = ["Ones with an onsen?", "Kinosaki is two hours away."]
OSAKA = ["Plan a trip to Osaka.", "Two days in Osaka."]


def test_every_branch_of_the_tree_is_a_branch_of_one_session(store: Store, tmp_path: Path) -> None:
    info = imported(store, tmp_path, chatgpt_tree())
    assert [s.id for s in store.list_sessions("sara")] == [JAPAN]
    # current_node is on the first path, not the last one said: it is the active line.
    assert line(store, info) == [(1, KYOTO), (2, FOOD), (3, TEMPLES)]
    assert info.turn_count == 3
    # Turns are numbered in the order said; ids follow the branches' first turns.
    assert branches(store, info) == [
        (4, 0, 0, [OSAKA]),  # the first message edited: a branch from the start
        (1, 0, 1, [SUSHI]),  # the regenerated reply: the whole old turn, its question too
        (2, 0, 1, [HOTELS, ONSEN]),  # the edited question, then the path said last
        (3, 2, 5, [CHEAPER]),  # the edit on the branch: a branch of the branch
    ]


def test_switching_to_an_imported_branch_of_a_branch_works_as_memchat_made_it(
    store: Store, tmp_path: Path
) -> None:
    info = imported(store, tmp_path, chatgpt_tree())
    store.activate_branch(info, 3)
    assert line(store, info) == [(1, KYOTO), (5, HOTELS), (6, CHEAPER)]
    # The line left behind is a branch again: everything is still there, once.
    held = [texts for *_, turns in branches(store, info) for texts in turns]
    assert sorted(map(tuple, held)) == sorted(map(tuple, [OSAKA, SUSHI, FOOD, TEMPLES, ONSEN]))


def test_search_finds_a_branch_and_marks_it_recall_sees_the_active_line(
    store: Store, tmp_path: Path
) -> None:
    info = imported(store, tmp_path, chatgpt_tree())
    (hit,) = store.search("sara", "Kinosaki")
    assert (hit.session_id, hit.branch, hit.seq) == (JAPAN, 2, 7)
    (hit,) = store.search("sara", "temples")
    assert (hit.branch, hit.seq) == (0, 3)
    assert store.get_session("sara", JAPAN).turn_count == info.turn_count


async def test_a_new_chat_recalls_the_active_line_only(store: Store, tmp_path: Path) -> None:
    imported(store, tmp_path, chatgpt_tree())
    model = ScriptedModel([reply("Kyoto.")])
    memory = Memory(store, budget=4000, recall=store_recall(store))
    chat = Chat(Agent(name="a", model=model), memory=memory)
    await chat.run_turn(store.session("sara", "new"), "Where was my trip?")
    assert model.last_call is not None
    notes = system_notes(model.last_call.input)
    assert "user: Plan a trip to Kyoto." in notes
    assert "Osaka" not in notes and "hotels" not in notes


def test_the_tree_round_trips_through_memchat_jsonl(store: Store, tmp_path: Path) -> None:
    info = imported(store, tmp_path, chatgpt_tree())
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_jsonl(session_records(store, [info]), out)
    import_file(store, path, "ali")
    copy = store.get_session("ali", JAPAN)
    assert line(store, copy) == line(store, info)
    assert branches(store, copy) == branches(store, info)


def test_a_reimport_skips_the_conversation_even_from_the_old_separate_sessions(
    store: Store, tmp_path: Path
) -> None:
    """An import by memchat before branches made a session per branch, the one on
    screen under the conversation's own id: a new import skips the conversation and
    leaves those sessions as they are."""
    old = store.ensure_session("sara", JAPAN)
    store.commit_turn(old, [{"role": "user", "content": "Plan a trip to Kyoto."}])
    store.ensure_session("sara", f"{JAPAN}-b2")
    archive = import_file(store, write(tmp_path / "c.json", [chatgpt_tree()]), "sara")
    assert (archive.sessions, archive.skipped) == ([], 1)
    assert sorted(s.id for s in store.list_sessions("sara")) == [JAPAN, f"{JAPAN}-b2"]
    assert store.list_branches(store.get_session("sara", JAPAN)) == []


def test_learn_takes_facts_from_branches_the_latest_statement_winning(
    store: Store, tmp_path: Path
) -> None:
    nodes: list[tuple[str, str | None, dict[str, Any] | None]] = [
        ("root", None, None),
        ("u1", "root", gpt_message("user", "My dog is called Rex.", T0 + 1)),
        ("a1", "u1", gpt_message("assistant", "Hi Rex!", T0 + 2)),
        ("u1e", "root", gpt_message("user", "My dog is called Max.", T0 + 3)),
        ("u2", "a1", gpt_message("user", "I live in Porto.", T0 + 4)),
    ]
    # On screen: the edit. The Porto message is on the branch it left.
    tree = gpt_conversation("c0ffee00-0000-4000-8000-00000000000a", "Dogs", nodes, "u1e")
    import_file(store, write(tmp_path / "c.json", [tree]), "sara", learn=True)
    facts = {f.key: f.value for f in store.list_facts("sara")}
    # Max was said after Rex (an edit); Porto is said on the branch the edit left.
    assert facts == {"dog": "Max", "home": "Porto"}
    info = store.get_session("sara", JAPAN)
    assert line(store, info) == [(2, ["My dog is called Max."])]


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda m: m["u3"].update(parent="gone"), r"node u3: its parent 'gone' is not in"),
        (lambda m: m["u1"].update(parent="a2"), r"node u\d: its parents go round in a loop"),
        (lambda m: m["a2e"].update(message=[]), r"node a2e: message is not an object"),
    ],
)
def test_a_bad_tree_names_the_node_and_imports_nothing(
    store: Store, tmp_path: Path, damage: Any, named: str
) -> None:
    tree = chatgpt_tree()
    damage(tree["mapping"])
    with pytest.raises(ImportFormatError, match=rf"conversation 3 \(.*\), {named}"):
        imported(store, tmp_path, *chatgpt_export(), tree)
    assert store.list_users() == []


def test_a_conversation_deeper_than_the_recursion_limit_imports(
    sqlite_store: Store, tmp_path: Path
) -> None:
    nodes: list[tuple[str, str | None, dict[str, Any] | None]] = [("root", None, None)]
    parent = "root"
    for n in range(1500):
        nodes.append((f"u{n}", parent, gpt_message("user", f"question {n}", T0 + 2 * n)))
        nodes.append((f"a{n}", f"u{n}", gpt_message("assistant", f"reply {n}", T0 + 2 * n + 1)))
        parent = f"a{n}"
    nodes.append(("again", "u1000", gpt_message("assistant", "another reply", T0 + 9999)))
    deep = gpt_conversation("c0ffee00-0000-4000-8000-00000000000a", "Deep", nodes, parent)
    deep["mapping"] = dict(reversed(deep["mapping"].items()))  # the leaf first
    info = imported(sqlite_store, tmp_path, deep)
    assert info.turn_count == 1500
    (branch,) = sqlite_store.list_branches(info)
    assert (branch.fork_seq, branch.turn_count) == (1000, 1)


def claude_tree(**damage: str) -> dict[str, Any]:
    """A Claude conversation whose first message was edited and whose reply was retried,
    with the leaf on screen named (``current_leaf_message_uuid``)."""
    root = "00000000-0000-4000-8000-000000000000"

    def message(key: str, sender: str, text: str, minute: int, parent: str) -> dict[str, Any]:
        stamp = f"2024-03-02T10:{minute:02d}:00Z"
        return {"uuid": key, "sender": sender, "text": text, "content": [], "created_at": stamp,
                "parent_message_uuid": damage.get(key, parent)}  # fmt: skip

    return {
        "uuid": "22222222-2222-4222-8222-222222222222",
        "name": "Trip",
        "created_at": "2024-03-02T10:00:00Z",
        "current_leaf_message_uuid": "r1",
        "chat_messages": [
            message("h1", "human", "Plan a weekend in Lisbon.", 1, root),
            message("r1", "assistant", "Day one: Alfama.", 2, "h1"),
            message("r1b", "assistant", "Day one: Belém.", 3, "h1"),
            message("h1e", "human", "Plan a weekend in Porto.", 4, root),
            message("r1e", "assistant", "Day one: Ribeira.", 5, "h1e"),
        ],
    }


def test_a_claude_tree_keeps_its_branches_and_the_leaf_on_screen(
    store: Store, tmp_path: Path
) -> None:
    import_file(store, write(tmp_path / "c.json", [claude_tree()]), "sara")
    info = store.get_session("sara", "claude-22222222-2222-4222-8222-222222222222")
    assert line(store, info) == [(1, ["Plan a weekend in Lisbon.", "Day one: Alfama."])]
    assert branches(store, info) == [
        (1, 0, 0, [["Plan a weekend in Lisbon.", "Day one: Belém."]]),
        (2, 0, 0, [["Plan a weekend in Porto.", "Day one: Ribeira."]]),
    ]
    with pytest.raises(ImportFormatError, match=r"message r1e: its parent 'h9' is not in"):
        import_file(store, write(tmp_path / "d.json", [claude_tree(r1e="h9")]), "ali")
