"""Branches on both backends: editing a turn, switching, undo, summaries, search, fork."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memchat.errors import BranchNotFound, ImportFormatError, TurnNotFound
from memchat.store import Store, tree
from memchat.store.base import SessionInfo
from memchat.transfer import import_file, session_records, write_jsonl

from .helpers import texts_of, user_message


def turn(text: str) -> list[Any]:
    """A turn: the user's message and a reply naming it."""
    return [user_message(text), {"role": "assistant", "content": f"re: {text}"}]


def said(store: Store, info: SessionInfo) -> list[str]:
    """The user's messages on the active line, in order."""
    return texts_of(store.get_items(info))[::2]


def chat(store: Store, *texts: str, session: str = "s") -> tuple[SessionInfo, list[int]]:
    info = store.ensure_session("sara", session)
    return info, [store.commit_turn(info, turn(text)) for text in texts]


def test_an_edit_keeps_the_old_continuation_as_a_branch(store: Store) -> None:
    info, (one, two, three) = chat(store, "one", "two", "three")
    edited = store.commit_turn(info, turn("TWO"), edit_seq=two)
    assert said(store, info) == ["one", "TWO"]
    assert [t.seq for t in store.get_turns(info)] == [one, edited]
    (branch,) = store.list_branches(info)
    assert (branch.parent, branch.fork_seq, branch.turn_count) == (0, one, 2)
    assert branch.first_item == user_message("two")
    assert branch.first_seq == two
    kept = store.branch_turns(info, branch.id)
    assert [t.seq for t in kept] == [two, three]
    assert [t.items for t in kept] == [turn("two"), turn("three")]
    assert store.get_session("sara", "s").turn_count == 2
    # What the model sees, recent turns and the last turn are the active line's.
    assert [t.seq for t in store.recent_turns(info, 0, 10)] == [one, edited]
    last = store.last_turn(info)
    assert last is not None and last.items == turn("TWO")


def test_switching_swaps_the_active_line_and_back(store: Store) -> None:
    info, (_, two, _) = chat(store, "one", "two", "three")
    store.commit_turn(info, turn("TWO"), edit_seq=two)
    store.commit_turn(info, turn("four"))
    (branch,) = store.list_branches(info)
    store.activate_branch(info, branch.id)
    assert said(store, info) == ["one", "two", "three"]
    (other,) = store.list_branches(info)
    assert other.id == branch.id and other.turn_count == 2
    assert [t.items[0] for t in store.branch_turns(info, other.id)] == [
        user_message("TWO"),
        user_message("four"),
    ]
    store.activate_branch(info, branch.id)
    assert said(store, info) == ["one", "TWO", "four"]
    # The next turn continues the active line.
    store.commit_turn(info, turn("five"))
    assert said(store, info) == ["one", "TWO", "four", "five"]


def test_a_branch_of_a_branch_is_reached_through_its_parent(store: Store) -> None:
    info, (_, two, three) = chat(store, "one", "two", "three")
    store.commit_turn(info, turn("TWO"), edit_seq=two)  # branch 1: two, three
    store.activate_branch(info, 1)  # active: one two three; branch 1: TWO
    store.commit_turn(info, turn("THREE"), edit_seq=three)  # branch 2: three
    store.activate_branch(info, 1)  # active: one TWO; branch 1: two THREE, branch 2 under it
    assert said(store, info) == ["one", "TWO"]
    parents = {b.id: b.parent for b in store.list_branches(info)}
    assert parents == {1: 0, 2: 1}
    store.activate_branch(info, 2)
    assert said(store, info) == ["one", "two", "three"]
    assert sorted(
        [
            str(t.items[0]["content"])
            for b in store.list_branches(info)
            for t in store.branch_turns(info, b.id)
        ]
    ) == ["THREE", "TWO"]


def test_a_failed_edit_leaves_the_tree_as_it_was(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, (_, two, _) = chat(store, "one", "two", "three")
    store.set_summary(info, two, "summary of one and two")
    move_aside = tree.move_aside

    def move_then_fail(*args: Any) -> int:
        move_aside(*args)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(tree, "move_aside", move_then_fail)
    with pytest.raises(RuntimeError):
        store.commit_turn(info, turn("TWO"), edit_seq=two)
    assert said(store, info) == ["one", "two", "three"]
    assert store.list_branches(info) == []
    summary = store.get_summary(info)
    assert summary is not None and summary.through_seq == two
    assert store.get_session("sara", "s").turn_count == 3


def test_unknown_turns_and_branches_are_clear_errors(store: Store) -> None:
    info, (one, two) = chat(store, "one", "two")
    store.commit_turn(info, turn("TWO"), edit_seq=two)
    with pytest.raises(TurnNotFound):
        store.commit_turn(info, turn("x"), edit_seq=two)  # on a branch now
    with pytest.raises(TurnNotFound):
        store.commit_turn(info, turn("x"), edit_seq=99)
    with pytest.raises(BranchNotFound):
        store.activate_branch(info, 7)
    with pytest.raises(BranchNotFound):
        store.branch_turns(info, 0)
    assert said(store, info) == ["one", "TWO"] and one


def test_summaries_of_the_changed_line_are_dropped(store: Store) -> None:
    info, (one, two, three) = chat(store, "one", "two", "three")
    store.set_summary(info, one, "about one")
    store.commit_turn(info, turn("THREE"), edit_seq=three)
    summary = store.get_summary(info)
    assert summary is not None and summary.text == "about one"  # the line from 3 changed
    store.set_summary(info, three + 1, "about one, two, THREE")
    store.activate_branch(info, 1)
    summary = store.get_summary(info)
    assert summary is None  # it covered THREE, which is off the line now
    store.set_summary(info, two, "about one and two")
    store.commit_turn(info, turn("TWO"), edit_seq=two)
    assert store.get_summary(info) is None


def test_undo_drops_the_branches_that_continued_from_the_undone_turn(store: Store) -> None:
    info, (_, two, three) = chat(store, "one", "two", "three")
    store.commit_turn(info, turn("THREE"), edit_seq=three)  # branch 1 continues from two
    store.commit_turn(info, turn("TWO"), edit_seq=two)  # branch 2: two, THREE (1 under it)
    assert {b.id: b.parent for b in store.list_branches(info)} == {1: 2, 2: 0}
    store.pop_turn(info)  # TWO: the branches continue from one, which stays
    assert said(store, info) == ["one"]
    assert len(store.list_branches(info)) == 2
    store.activate_branch(info, 2)
    assert said(store, info) == ["one", "two", "THREE"]
    store.pop_turn(info)
    store.pop_turn(info)  # two: branch 1 continued from it
    assert said(store, info) == ["one"]
    assert store.list_branches(info) == []


def test_replace_last_keeps_the_old_reply_as_a_sibling(store: Store) -> None:
    info, (_, two) = chat(store, "one", "two")
    store.commit_turn(info, turn("two again"), replace_last=True)
    assert said(store, info) == ["one", "two again"]
    (branch,) = store.list_branches(info)
    assert [t.seq for t in store.branch_turns(info, branch.id)] == [two]


def test_clear_session_drops_every_branch(store: Store) -> None:
    info, (_, two) = chat(store, "one", "two")
    store.commit_turn(info, turn("TWO"), edit_seq=two)
    store.clear_session(info)
    assert store.get_items(info) == [] and store.list_branches(info) == []


def test_search_marks_branches_and_recall_sees_the_active_line(any_store: Store) -> None:
    store = any_store
    info, (_, two) = chat(store, "one", "zeppelin flight")
    store.commit_turn(info, turn("balloon flight"), edit_seq=two)
    if not store.searchable:
        return
    # Search finds every branch's messages, each marked with its branch.
    assert {(hit.role, hit.branch) for hit in store.search("sara", "zeppelin")} == {
        ("user", 1),
        ("assistant", 1),
    }
    assert {hit.branch for hit in store.search("sara", "balloon")} == {0}
    found = store.match_messages("sara", ["zeppelin"], limit=10)
    assert found == []
    found = store.match_messages("sara", ["balloon"], limit=10)
    assert {m.text for m in found} == {"balloon flight", "re: balloon flight"}
    every = store.all_messages("sara", limit=100)
    assert every is not None and "zeppelin flight" not in {m.text for m in every}


def test_fork_copies_the_active_line_up_to_a_turn(store: Store) -> None:
    info, (_, two, _) = chat(store, "one", "two", "three")
    store.commit_turn(info, turn("TWO"), edit_seq=two)
    store.commit_turn(info, turn("four"))
    forked = store.fork_session(info, two + 2)  # the edited TWO
    assert forked.id != info.id
    assert said(store, forked) == ["one", "TWO"]
    assert forked.metadata == {"forked_from": "s", "forked_at": two + 2}
    assert said(store, info) == ["one", "TWO", "four"]  # the session is as it was
    with pytest.raises(TurnNotFound):
        store.fork_session(info, two)  # on a branch, not on the active line


# -- any sequence of edits, switches, undos and new turns --------------------------------------

_sessions = itertools.count()
_ops = st.lists(
    st.tuples(st.sampled_from(["send", "edit", "switch", "undo"]), st.integers(0, 50)),
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=_ops)
def test_any_sequence_keeps_the_active_path_and_every_branch(
    store: Store, ops: list[tuple[str, int]]
) -> None:
    info = store.ensure_session("sara", f"h{next(_sessions)}")
    # The model: each turn's parent, text and the active line's last turn.
    parent: dict[int, int] = {}
    text: dict[int, str] = {}
    leaf = 0

    def path(seq: int) -> list[int]:
        line = []
        while seq:
            line.append(seq)
            seq = parent[seq]
        return line[::-1]

    for n, (op, pick) in enumerate(ops):
        active = path(leaf)
        if op == "send" or (op == "edit" and not active):
            seq = store.commit_turn(info, turn(f"t{n}"))
            parent[seq], text[seq], leaf = leaf, f"t{n}", seq
        elif op == "edit":
            target = active[pick % len(active)]
            seq = store.commit_turn(info, turn(f"e{n}"), edit_seq=target)
            parent[seq], text[seq], leaf = parent[target], f"e{n}", seq
        elif op == "switch":
            branches = store.list_branches(info)
            if branches:
                chosen = branches[pick % len(branches)]
                leaf = store.branch_turns(info, chosen.id)[-1].seq
                store.activate_branch(info, chosen.id)
        elif op == "undo" and leaf:
            store.pop_turn(info)
            gone = {leaf}
            while more := {s for s, p in parent.items() if p in gone} - gone:
                gone |= more
            leaf = parent[leaf]
            for seq in gone:
                del parent[seq], text[seq]
        # get_items is the active path, whole.
        expected = [item for seq in path(leaf) for item in turn(text[seq])]
        assert store.get_items(info) == expected
        # Every other turn is on exactly one branch, which continues a line of the tree.
        held = [t.seq for t in store.get_turns(info)]
        for branch in store.list_branches(info):
            turns = store.branch_turns(info, branch.id)
            assert parent[turns[0].seq] == branch.fork_seq
            for before, after in itertools.pairwise(turns):
                assert parent[after.seq] == before.seq
            assert all(t.items == turn(text[t.seq]) for t in turns)
            held += [t.seq for t in turns]
        assert sorted(held) == sorted(parent)


# -- export and import ---------------------------------------------------------------------


def shape(store: Store, info: SessionInfo) -> tuple[Any, ...]:
    """What a session's tree holds, whatever its turns' seqs: the active line's items, and
    each branch's id, parent, place of its fork among all turns, and items."""
    branches = store.list_branches(info)
    own = {b.id: store.branch_turns(info, b.id) for b in branches}
    seqs = sorted(
        [t.seq for t in store.get_turns(info)] + [t.seq for ts in own.values() for t in ts]
    )
    place = {seq: n for n, seq in enumerate(seqs, 1)} | {0: 0}
    return (
        store.get_items(info),
        [(b.id, b.parent, place[b.fork_seq], [t.items for t in own[b.id]]) for b in branches],
    )


def test_export_keeps_the_branches_and_import_reads_them_back(store: Store, tmp_path: Path) -> None:
    info, (_, two, three) = chat(store, "one", "two", "three")
    store.commit_turn(info, turn("THREE"), edit_seq=three)
    edited = store.commit_turn(info, turn("TWO"), edit_seq=two)
    store.commit_turn(info, turn("four"))
    store.set_summary(info, edited, "about one and TWO")
    before = shape(store, info)
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_jsonl(session_records(store, [info]), out)
    assert '"branch": 2' in path.read_text()
    store.delete_session("sara", "s")
    import_file(store, path, None)
    back = store.get_session("sara", "s")
    assert shape(store, back) == before
    summary = store.get_summary(back)
    assert summary is not None and summary.text == "about one and TWO"
    assert [t.seq for t in store.get_turns(back)][-2] == summary.through_seq
    assert back.turn_count == 3


def test_an_import_with_a_misplaced_branch_imports_nothing(store: Store, tmp_path: Path) -> None:
    lines = [
        {"type": "memchat-export", "version": 2},
        {"type": "session", "user": "sara", "id": "b", "created_at": "2025-01-01T00:00:00Z"},
        {"type": "turn", "created_at": "2025-01-01T00:00:00Z", "items": turn("one")},
        {"type": "turn", "created_at": "2025-01-01T00:00:00Z", "items": turn("x"), "branch": 1},
        {"type": "end", "sessions": 1, "turns": 2, "facts": 0},
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"bad.jsonl:5: turns on branch 1"):
        import_file(store, path, None)
    assert store.find_session("sara", "b") is None


@pytest.mark.parametrize("number", [2**31, 2**63, 2**64 + 1])
def test_a_number_no_store_can_hold_names_no_turn_or_branch(store: Store, number: int) -> None:
    # The API fuzz test sent these; SQLite raised OverflowError, PostgreSQL its own error.
    info, _ = chat(store, "one")
    with pytest.raises(TurnNotFound):
        store.commit_turn(info, turn("two"), edit_seq=number)
    with pytest.raises(BranchNotFound):
        store.branch_turns(info, number)
    with pytest.raises(BranchNotFound):
        store.activate_branch(info, number)
    assert store.list_turns(info, after_seq=number, limit=10) == []
    assert said(store, info) == ["one"]
