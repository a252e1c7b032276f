"""A ChatGPT or Claude export imported again (transfer/reimport.py): conversations that
grew get their new turns, in the import's one transaction; the others stay as they were."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from memchat.errors import ImportFormatError, QuotaExceeded, SessionChanged
from memchat.memory.forget import forget_fact
from memchat.store import Store
from memchat.store.continuation import Continuation
from memchat.store.quotas import Quotas
from memchat.store.records import Turn
from memchat.transfer import import_file

from .foreign_exports import chatgpt_export, chatgpt_export_later, claude_export, gpt_message
from .foreign_exports import grown as grow
from .helpers import texts_of, user_message
from .test_cli import Harness, ok

GPT_PLAIN = "chatgpt-c0ffee00-0000-4000-8000-000000000001"
GPT_BRANCHED = "chatgpt-c0ffee00-0000-4000-8000-000000000002"
CATS = "claude-11111111-1111-4111-8111-111111111111"
PLAIN_THEN = [
    "My name is Sara and I live in Porto.",
    "Nice to meet you, Sara!",
    "Any tips for the Douro valley?",
    "Take the train from São Bento.",
]
PLAIN_SINCE = [
    "I have a dog called Rex.",
    "Rex loves the riverside.",
    "Where can we walk together?",
    "Along the Douro.",
]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def texts(store: Store, session_id: str) -> list[str]:
    info = store.get_session("sara", session_id)
    return texts_of(item for turn in store.get_turns(info) for item in turn.items)


def held(store: Store) -> dict[str, Any]:
    """Everything sara has: each session's turns (ids too), branches and facts."""
    sessions = store.list_sessions("sara")
    return {
        "turns": {s.id: [(t, t.item_ids) for t in store.get_turns(s)] for s in sessions},
        "branches": {s.id: store.list_branches(s) for s in sessions},
        "facts": sorted((f.key, f.value) for f in store.list_facts("sara")),
    }


def imported(store: Store, tmp_path: Path) -> Path:
    """sara's ChatGPT export imported; the path of the later export, written."""
    import_file(store, write(tmp_path / "then.json", chatgpt_export()), "sara")
    return write(tmp_path / "later.json", chatgpt_export_later())


def test_grown_conversations_get_their_new_turns_after_the_stored_ones(
    any_store: Store, tmp_path: Path
) -> None:
    later = imported(any_store, tmp_path)
    branched = any_store.get_session("sara", GPT_BRANCHED)
    branches = any_store.list_branches(branched)

    archive = import_file(any_store, later, "sara")
    assert (archive.sessions, archive.updated, archive.new_turns) == ([], 2, 3)
    assert (archive.turns, archive.skipped) == (3, 0)
    # The stored messages as they were (the export's new spacing aside), then the new.
    assert texts(any_store, GPT_PLAIN) == PLAIN_THEN + PLAIN_SINCE
    plain = any_store.get_session("sara", GPT_PLAIN)
    assert [t.seq for t in any_store.get_turns(plain)] == [1, 2, 3, 4]
    assert plain.turn_count == 4
    assert plain.title == "Moving to Porto"
    assert any_store.get_turns(plain)[2].created_at.startswith("2023-11-14T22:16:40")
    # The branched one goes on from its active line, numbered after every turn it has;
    # its branches stay as they were.
    branched = any_store.get_session("sara", GPT_BRANCHED)
    assert [t.seq for t in any_store.get_turns(branched)] == [2, 4, 5]
    assert texts(any_store, GPT_BRANCHED)[-2:] == ["And for dessert?", "Pastéis de nata."]
    assert any_store.list_branches(branched) == branches
    # The new turns are searched and recalled like the others.
    (hit,) = any_store.search("sara", "riverside")
    assert hit.session_id == GPT_PLAIN

    # The same export again adds nothing.
    before = held(any_store)
    again = import_file(any_store, later, "sara")
    assert (again.sessions, again.updated, again.turns, again.skipped) == ([], 0, 0, 2)
    assert held(any_store) == before


def test_a_claude_conversation_that_went_on_gets_its_new_turns(
    store: Store, tmp_path: Path
) -> None:
    import_file(store, write(tmp_path / "then.json", claude_export()), "sara")
    later = claude_export()
    messages = later[0]["chat_messages"]
    for n, (sender, text) in enumerate([("human", "Miso is ill."), ("assistant", "See a vet.")]):
        at = f"2024-03-01T10:{n + 5:02d}:00.000000+00:00"
        content = [{"type": "text", "text": text}]
        messages.append(
            messages[-1]
            | {
                "uuid": f"m{n}",
                "sender": sender,
                "text": text,
                "content": content,
                "created_at": at,
            }
        )
    archive = import_file(store, write(tmp_path / "later.json", later), "sara")
    assert (archive.updated, archive.new_turns, archive.skipped) == (1, 1, 1)
    assert texts(store, CATS)[-2:] == ["Miso is ill.", "See a vet."]


def test_a_conversation_that_went_another_way_in_the_app_is_skipped(
    store: Store, tmp_path: Path
) -> None:
    """An edited message or a regenerated reply among the stored turns: not merged (while
    a conversation that only went on, in the same file, gets its new turns)."""
    plain, branched = chatgpt_export()
    _, other = chatgpt_export_later()
    third = {"id": "c0ffee00-0000-4000-8000-000000000003"}
    third["conversation_id"] = third["id"]
    other |= third
    then = [plain, branched, chatgpt_export()[1] | third]
    import_file(store, write(tmp_path / "then.json", then), "sara")
    before = held(store)
    grow(
        plain,
        [
            ("u2x", "a1", gpt_message("user", "Any tips for Braga?", 1_700_000_300)),
            ("a2x", "u2x", gpt_message("assistant", "Bom Jesus.", 1_700_000_301)),
            ("u3x", "a2x", gpt_message("user", "Thanks!", 1_700_000_302)),
        ],
    )
    grow(branched, [("a2c", "u2b", gpt_message("assistant", "Hake.", 1_700_000_310))])
    later = write(tmp_path / "later.json", [plain, branched, other])
    archive = import_file(store, later, "sara")
    assert (archive.sessions, archive.updated, archive.turns, archive.skipped) == ([], 1, 1, 2)
    after = held(store)
    for key in ("turns", "branches"):
        assert {k: v for k, v in after[key].items() if k.endswith(("01", "02"))} == {
            k: v for k, v in before[key].items() if k.endswith(("01", "02"))
        }
    assert texts(store, "chatgpt-" + other["id"])[-1] == "Pastéis de nata."


SAID: list[Any] = [user_message("Said in memchat.")]


@pytest.mark.parametrize(
    "change",
    [
        lambda store, info: store.pop_turn(info),
        lambda store, info: store.commit_turn(info, SAID),
        lambda store, info: (store.commit_turn(info, SAID), store.pop_turn(info)),
        lambda store, info: store.commit_turn(info, SAID, edit_seq=2),
        lambda store, info: store.prune("2023-11-14T22:13:22Z"),  # its first turn
    ],
    ids=["undo", "chat", "chat-undo", "edit", "prune"],
)
def test_a_session_changed_in_memchat_is_left_as_it_was(
    store: Store, tmp_path: Path, change: Any
) -> None:
    """An undone (or pruned) turn would come back, a turn added in memchat would sit
    between the app's turns: such a session is skipped (what was deleted stays deleted)."""
    later = imported(store, tmp_path)
    change(store, store.get_session("sara", GPT_PLAIN))
    before = held(store)
    archive = import_file(store, later, "sara")
    assert (archive.updated, archive.skipped) == (1, 1)  # only the branched one
    after = held(store)
    assert after["turns"][GPT_PLAIN] == before["turns"][GPT_PLAIN]
    assert after["branches"][GPT_PLAIN] == before["branches"][GPT_PLAIN]


def test_a_session_whose_branch_was_switched_back_still_grows(store: Store, tmp_path: Path) -> None:
    later = imported(store, tmp_path)
    plain = store.get_session("sara", GPT_PLAIN)
    store.commit_turn(plain, SAID, edit_seq=2)
    (branch,) = store.list_branches(plain)
    store.activate_branch(plain, branch.id)
    assert import_file(store, later, "sara").updated == 2
    assert texts(store, GPT_PLAIN) == PLAIN_THEN + PLAIN_SINCE


def test_a_bad_file_imports_nothing_and_mended_brings_the_new_turns(
    store: Store, tmp_path: Path
) -> None:
    later = imported(store, tmp_path)
    before = held(store)
    broken = [*chatgpt_export_later(), {"conversation_id": "c3", "mapping": {"x": "oops"}}]
    with pytest.raises(ImportFormatError, match="conversation 3"):
        import_file(store, write(tmp_path / "bad.json", broken), "sara")
    assert held(store) == before
    assert import_file(store, later, "sara").updated == 2


def test_the_new_turns_go_in_the_imports_one_transaction(store: Store, tmp_path: Path) -> None:
    """What fails after the new turns were written takes them back with it: a session
    that changed since it was read, or a cap the learned facts go over."""
    later = imported(store, tmp_path)
    before = held(store)
    plain = store.get_session("sara", GPT_PLAIN)
    branched = store.get_session("sara", GPT_BRANCHED)
    new = [Turn(0, "2024-01-01T00:00:00.000000Z", [user_message("New.")])]
    stale = store.get_turns(branched)[:1]  # not the line it has
    with pytest.raises(SessionChanged, match=GPT_BRANCHED):
        store.import_sessions(
            [],
            [],
            [Continuation(plain, store.get_turns(plain), new), Continuation(branched, stale, new)],
        )
    assert held(store) == before

    store.quotas = Quotas(facts=0)
    with pytest.raises(QuotaExceeded):
        import_file(store, later, "sara", learn=True)  # the dog's name: one fact too many
    assert held(store) == before


def test_learn_reads_the_new_turns_only(store: Store, tmp_path: Path) -> None:
    """Facts the stored turns state were learned when they came in, or not at all."""
    later = imported(store, tmp_path)  # without learn: no name, no home
    archive = import_file(store, later, "sara", learn=True, name="later.json")
    assert [(f.key, f.value) for f in archive.facts] == [("dog", "Rex")]
    assert [(f.key, f.value, f.source) for f in store.list_facts("sara")] == [
        ("dog", "Rex", "import: later.json")
    ]


def test_what_memchat_was_told_to_forget_stays_forgotten(any_store: Store, tmp_path: Path) -> None:
    """Forgetting keeps the messages that said the fact out of recall, without changing
    them: the conversation still grows, those messages keep their mark, the fact is not
    learned again, and nothing of them is written again."""
    import_file(any_store, write(tmp_path / "then.json", chatgpt_export()), "sara", learn=True)
    assert {f.key for f in any_store.list_facts("sara")} == {"name", "home"}
    forgotten = forget_fact(any_store, "sara", "home")
    assert forgotten.messages == 1
    plain = any_store.get_session("sara", GPT_PLAIN)
    said = any_store.get_turns(plain)[0].item_ids[0]
    assert said in any_store.hidden_from_recall("sara")

    later = write(tmp_path / "later.json", chatgpt_export_later())
    archive = import_file(any_store, later, "sara", learn=True)
    assert archive.updated == 2
    assert texts(any_store, GPT_PLAIN) == PLAIN_THEN + PLAIN_SINCE
    assert any_store.get_turns(plain)[0].item_ids[0] == said
    assert said in any_store.hidden_from_recall("sara")
    assert {f.key: f.value for f in any_store.list_facts("sara")} == {
        "name": "Sara",
        "dog": "Rex",
    }
    everything = [
        item
        for s in any_store.list_sessions("sara")
        for t in any_store.get_turns(s)
        for item in t.items
    ]
    assert sum("Porto" in text for text in texts_of(everything)) == 1
    assert [hit.item_id for hit in any_store.search("sara", "Porto")] == [said]


@pytest.mark.parametrize("writes", [False, True], ids=["reads", "writes"])
async def test_an_import_waits_for_a_turn_in_a_session_it_continues(
    store: Store, tmp_path: Path, writes: bool
) -> None:
    """The new turns never come between a turn's reading of the history and its reply:
    the import waits for the session's turn lock, and a session the turn wrote to in the
    meantime is then skipped (its line is no longer the start of the export's)."""
    later = imported(store, tmp_path)
    plain = store.get_session("sara", GPT_PLAIN)
    loop = asyncio.get_running_loop()
    async with store.turn_lock(plain):
        # run_in_executor, not to_thread: the import must not inherit this turn's lock.
        waiting = loop.run_in_executor(None, import_file, store, later, "sara")
        await asyncio.sleep(0.5)
        assert not waiting.done()
        if writes:
            store.commit_turn(plain, [user_message("Said in memchat meanwhile.")])
    archive = await waiting
    if writes:
        assert (archive.updated, archive.skipped) == (1, 1)
        assert texts(store, GPT_PLAIN) == [*PLAIN_THEN, "Said in memchat meanwhile."]
    else:
        assert archive.updated == 2
        assert texts(store, GPT_PLAIN) == PLAIN_THEN + PLAIN_SINCE


def test_the_import_command_says_what_it_updated(tmp_path: Path) -> None:
    memchat = Harness()
    then = write(tmp_path / "then.json", chatgpt_export())
    ok(memchat("import", str(then), "-u", "sara"))
    later = write(tmp_path / "later.json", chatgpt_export_later())
    out = ok(memchat("import", str(later), "-u", "sara", "--learn"))
    assert out.strip() == ("imported 0 session(s), 3 turns, 1 fact(s), updated 2 with 3 new turns")
    out = ok(memchat("import", str(later), "-u", "sara"))
    assert out.strip() == "imported 0 session(s), 0 turns, 0 fact(s), skipped 2 imported before"
