"""A fact learned from a turn that an edit moved to a branch stays, with its source."""

from __future__ import annotations

from pathlib import Path

from memchat.memory.context import Memory
from memchat.memory.forget import forget_fact
from memchat.memory.recall import recall
from memchat.store import SessionInfo, Store, open_store

from .helpers import user_message
from .test_cli import Harness, ok


def say(store: Store, info: SessionInfo, text: str, edit_seq: int | None = None) -> int:
    """Commit a turn saying ``text`` (an edit of turn ``edit_seq``) and learn from it."""
    reply = {"role": "assistant", "content": "ok"}
    seq = store.commit_turn(info, [user_message(text), reply], edit_seq=edit_seq)
    Memory(store, budget=4000).learn(info, text, seq)
    return seq


def test_the_fact_stays_names_its_message_on_the_branch_and_can_be_forgotten(
    store: Store,
) -> None:
    info = store.ensure_session("sara", "s")
    said = say(store, info, "My dog is called Rex")
    say(store, info, "Hello")
    say(store, info, "Something else", edit_seq=said)
    (branch,) = store.list_branches(info)
    moved = store.branch_turns(info, branch.id)[0]
    (fact,) = store.list_facts("sara")
    assert (fact.key, fact.value) == ("dog", "Rex")
    (source,) = store.fact_sources("sara")[fact.id]
    assert (source.session_id, source.seq, source.item_id) == ("s", said, moved.item_ids[0])
    assert store.get_messages("sara", [source.item_id]) == []  # recall reads the active line
    (message,) = store.get_messages("sara", [source.item_id], branches=True)
    assert message.text == "My dog is called Rex"
    forgotten = forget_fact(store, "sara", "dog")
    assert forgotten.messages == 1
    assert store.list_facts("sara") == []
    # Kept out of recall although on a branch: switching to it does not bring Rex back.
    assert store.hidden_from_recall("sara") == {moved.item_ids[0]}
    store.activate_branch(info, branch.id)
    hidden = store.hidden_from_recall("sara")

    def recalled(exclude: set[int]) -> list[str]:
        return [p.text for p in recall(store, "sara", "dog Rex", k=5, exclude_item_ids=exclude)]

    assert "My dog is called Rex" in recalled(set())  # it would be, but for the hiding
    assert "My dog is called Rex" not in recalled(hidden)


def test_memory_list_sources_shows_the_branch_message(db_path: Path) -> None:
    with open_store(str(db_path)) as store:
        info = store.ensure_session("sara", "s")
        said = say(store, info, "My dog is called Rex")
        say(store, info, "Something else", edit_seq=said)
    memchat = Harness()
    out = ok(memchat("--db", str(db_path), "memory", "list", "-u", "sara", "--sources"))
    assert "My dog is called Rex" in out and f"s#{said}" in out
    out = ok(memchat("--db", str(db_path), "memory", "forget", "dog", "-u", "sara"))
    assert out.startswith("forgot dog: Rex (1 message(s) no longer recalled)")
