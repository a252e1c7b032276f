"""The Store contract: what every backend does alike, run on SQLite and on PostgreSQL.

``any_store`` and ``store_location`` (conftest.py) give each test a fresh store of each
backend; the PostgreSQL runs skip unless MEMCHAT_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.errors import InvalidName, MemchatError, SessionExists, SessionNotFound, UserNotFound
from memchat.store import Store, open_store
from memchat.store.base import SessionRecord
from memchat.transfer import read_jsonl, session_records, user_facts, write_jsonl

from .helpers import reply, texts_of, user_message

ROOT = Path(__file__).parents[1]
OLD = "2020-01-01T00:00:00.000000Z"


def assistant(text: str) -> Any:
    return {
        "role": "assistant",
        "type": "message",
        "content": [{"type": "output_text", "text": text}],
    }


def run_worker(
    location: str, user: str, session: str, tag: str, turns: int, out: Path
) -> subprocess.Popen[bytes]:
    """Start tests/turn_worker.py: TURNS echo turns in USER's SESSION, in a new process."""
    args = [location, user, session, tag, str(turns), str(out)]
    return subprocess.Popen([sys.executable, "-m", "tests.turn_worker", *args], cwd=ROOT)


# -- across processes ----------------------------------------------------------------------


async def test_remembers_after_restart_in_a_new_process(
    store_location: str, tmp_path: Path
) -> None:
    """The seed's promise: tell it in one process, ask in the next."""
    worker = run_worker(store_location, "sara", "default", "My name is Sara", 1, tmp_path / "log")
    assert worker.wait(60) == 0
    model = ScriptedModel([reply("Your name is Sara.")])
    with open_store(store_location) as store:
        await Chat(Agent(name="a", model=model)).run_turn(store.session("sara"), "What's my name?")
    assert model.last_call is not None
    assert texts_of(model.last_call.input) == [
        "My name is Sara-0",
        "echo: My name is Sara-0",
        "What's my name?",
    ]


def test_processes_on_one_session_never_interleave(store_location: str, tmp_path: Path) -> None:
    workers = [
        run_worker(store_location, "sara", "shared", f"p{n}", 15, tmp_path / f"log{n}")
        for n in range(4)
    ]
    assert [w.wait(120) for w in workers] == [0, 0, 0, 0]
    with open_store(store_location) as store:
        turns = store.get_turns(store.get_session("sara", "shared"))
    assert len(turns) == 60
    history: list[str] = []
    for turn in turns:
        user, answer = texts_of(turn.items)
        assert answer == f"echo: {user}"  # every turn whole: its own input and reply
        history += [user, answer]
    # Each turn's model input was exactly the history committed before it: no process
    # read a stale history or had its turn split by another's.
    inputs = [
        json.loads(line)
        for n in range(4)
        for line in (tmp_path / f"log{n}").read_text().splitlines()
    ]
    by_message = {texts_of(i)[-1]: texts_of(i)[:-1] for i in inputs}
    for index in range(0, len(history), 2):
        assert by_message[history[index]] == history[:index]


# -- users and sessions --------------------------------------------------------------------


def test_names_are_validated(any_store: Store) -> None:
    for bad in ("", "a/b", "x" * 65, "new\nline", "a b", "'; DROP TABLE users; --"):
        with pytest.raises(InvalidName):
            any_store.ensure_user(bad)
    with pytest.raises(InvalidName):
        any_store.create_session("sara", "../../etc")
    assert any_store.ensure_user("Zoë.o'neil".replace("'", "")).name == "Zoë.oneil"


# The four calls the backends once answered differently (issue 15): SQLite refused the
# name, PostgreSQL made a random session, returned None or UserNotFound, or stripped NUL.


def test_an_empty_session_id_is_invalid_not_a_fresh_one(any_store: Store) -> None:
    any_store.ensure_user("sara")
    with pytest.raises(InvalidName):
        any_store.create_session("sara", "")
    assert any_store.list_sessions("sara") == []


def test_finding_a_session_by_an_invalid_id_is_invalid(any_store: Store) -> None:
    any_store.create_session("sara", "a")
    for bad in ("a/b", "", "a b"):
        with pytest.raises(InvalidName):
            any_store.find_session("sara", bad)
    with pytest.raises(InvalidName):
        any_store.find_session("sa/ra", "a")


def test_every_call_naming_a_user_refuses_an_invalid_name(any_store: Store) -> None:
    any_store.ensure_user("sara")
    calls = [
        lambda name: any_store.get_user(name),
        lambda name: any_store.delete_user(name),
        lambda name: any_store.list_sessions(name),
        lambda name: any_store.list_facts(name),
        lambda name: any_store.set_fact(name, "k", "v", "test"),
        lambda name: any_store.forget_fact(name, "k"),
        lambda name: any_store.create_token(name),
        lambda name: any_store.revoke_tokens(name),
        lambda name: any_store.is_admin(name),
        lambda name: any_store.set_admin(name, True),
        lambda name: any_store.hidden_from_recall(name),
        lambda name: any_store.hide_from_recall(name, [1]),
        lambda name: any_store.set_current_session(name, "a"),
    ]
    for call in calls:
        with pytest.raises(InvalidName):
            call("a b")
    assert [u.name for u in any_store.list_users()] == ["sara"]
    assert any_store.is_admin("sara") is False


def test_text_is_stored_without_nul_on_every_backend(any_store: Store) -> None:
    store = any_store
    store.create_session("sara", "a", title="t\x00one")
    assert store.get_session("sara", "a").title == "tone"
    assert store.rename_session("sara", "a", "x\x00y").title == "xy"
    assert store.get_session("sara", "a").title == "xy"
    untitled = store.create_session("sara", "b")
    store.commit_turn(untitled, [user_message("hi\x00 there")])
    assert store.get_session("sara", "b").title == "hi there"
    fact = store.set_fact("sara", "ci\x00ty", "Por\x00to", "test")
    assert (fact.key, fact.value) == ("city", "Porto")
    assert [(f.key, f.value) for f in store.list_facts("sara")] == [("city", "Porto")]
    # The item itself keeps its NUL: JSON escapes it, so every backend can store it.
    assert store.get_items(untitled)[0]["content"] == "hi\x00 there"


def test_a_negative_limit_is_refused_alike(any_store: Store) -> None:
    session = any_store.create_session("sara", "a")
    for call in (
        lambda: any_store.list_sessions("sara", limit=-1),
        lambda: any_store.list_facts("sara", limit=-1),
        lambda: any_store.list_turns(session, limit=-1),
    ):
        with pytest.raises(ValueError, match="limit"):
            call()
    assert any_store.list_sessions("sara", limit=0) == []


def test_session_ids_are_unique_per_user(any_store: Store) -> None:
    any_store.create_session("sara", "work")
    any_store.create_session("ali", "work")
    with pytest.raises(SessionExists):
        any_store.create_session("sara", "work")


def test_users_and_sessions(any_store: Store) -> None:
    store = any_store
    assert store.ensure_user("sara") == store.ensure_user("sara")
    with pytest.raises(UserNotFound):
        store.get_user("nobody")
    first = store.create_session("sara", "a", title="First", metadata={"k": [1, "é"]})
    store.create_session("sara", "b")
    assert first.metadata == {"k": [1, "é"]} and first.title == "First"
    store.commit_turn(first, [user_message("later")])  # now the most recently updated
    assert [s.id for s in store.list_sessions("sara")] == ["a", "b"]
    assert store.rename_session("sara", "b", "Bee").title == "Bee"
    assert store.open_session("sara").id == "a"  # the most recent, now current
    assert store.get_user("sara").current_session == "a"
    store.delete_session("sara", "a")
    assert store.get_user("sara").current_session is None
    assert store.find_session("sara", "a") is None
    with pytest.raises(SessionNotFound):
        store.get_session("sara", "a")
    assert [u.name for u in store.list_users()] == ["sara"]
    store.delete_user("sara")
    with pytest.raises(UserNotFound):
        store.delete_user("sara")


# -- turns ---------------------------------------------------------------------------------


def test_turn_bookkeeping(any_store: Store) -> None:
    store = any_store
    session = store.ensure_session("sara", "default")
    first = store.commit_turn(session, [user_message("one"), user_message("reply")])
    second = store.commit_turn(session, [user_message("two")])
    assert (first, second) == (1, 2)
    info = store.get_session("sara", "default")
    assert info.turn_count == 2 and info.title == "one"
    popped = store.pop_turn(info)
    assert popped is not None and texts_of(popped.items) == ["two"]
    assert store.commit_turn(info, [user_message("three")]) == 3  # seq never reused
    assert store.pop_item(info) == user_message("three")
    assert store.get_session("sara", "default").turn_count == 1
    store.delete_user("sara")
    assert store.list_users() == []


def test_replace_append_and_windows(any_store: Store) -> None:
    store = any_store
    info = store.ensure_session("sara", "default")
    store.commit_turn(info, [user_message("q1"), assistant("a1")])
    store.commit_turn(info, [user_message("q2"), assistant("bad")])
    assert store.commit_turn(info, [user_message("q2"), assistant("a2")], replace_last=True) == 3
    store.append_to_last_turn(info, [assistant("a2, continued")])
    last = store.last_turn(info)
    assert last is not None and last.seq == 3
    assert texts_of(last.items) == ["q2", "a2", "a2, continued"]
    assert [t.seq for t in store.get_turns(info)] == [1, 3]
    assert texts_of(store.get_items(info, limit=2)) == ["a2", "a2, continued"]
    # Whole turns only, newest first cut: 4 items fit turn 3 (3 items) but not turn 1 too.
    assert [t.seq for t in store.recent_turns(info, 0, 4)] == [3]
    assert [t.seq for t in store.recent_turns(info, 0, 5)] == [1, 3]
    assert store.recent_turns(info, 3, 10) == []
    store.clear_session(info)
    assert store.get_items(info) == [] and store.last_turn(info) is None
    assert store.get_session("sara", "default").turn_count == 0


def test_recent_turns_are_whole_turns_within_the_item_limit(any_store: Store) -> None:
    info = any_store.ensure_session("sara", "s")
    first = [user_message("one"), assistant("a"), assistant("b"), assistant("c")]
    second = [user_message("two"), assistant("d")]
    any_store.commit_turn(info, first)
    any_store.commit_turn(info, second)
    # Five items would hold the second turn and the first cut short: the first is left out.
    assert [t.items for t in any_store.recent_turns(info, 0, 5)] == [second]
    assert [t.items for t in any_store.recent_turns(info, 0, 6)] == [first, second]
    assert [t.items for t in any_store.recent_turns(info, 1, 6)] == [second]
    assert any_store.recent_turns(info, 0, 1) == []


def test_append_to_turn_goes_to_that_turn_or_a_new_one(any_store: Store) -> None:
    """A run's later steps go to its own turn, even when newer turns exist."""
    store = any_store
    info = store.ensure_session("sara", "default")
    first = store.commit_turn(info, [user_message("q1")])
    second = store.commit_turn(info, [user_message("q2"), assistant("a2")])
    assert store.append_to_turn(info, first, [assistant("a1")]) == first
    assert [texts_of(t.items) for t in store.get_turns(info)] == [["q1", "a1"], ["q2", "a2"]]
    assert texts_of(store.get_items(info)) == ["q1", "a1", "q2", "a2"]
    # The turn was undone meanwhile: the items become a turn of their own, never lost.
    store.pop_turn(info)
    third = store.append_to_turn(info, second, [assistant("a2, late")])
    assert third == 3
    assert [texts_of(t.items) for t in store.get_turns(info)] == [["q1", "a1"], ["a2, late"]]
    assert store.get_session("sara", "default").turn_count == 2


def test_turn_in_a_deleted_session_is_an_error(any_store: Store) -> None:
    info = any_store.ensure_session("sara", "gone")
    any_store.delete_session("sara", "gone")
    with pytest.raises(SessionNotFound):
        any_store.commit_turn(info, [user_message("hello")])


def test_items_come_back_exactly(any_store: Store) -> None:
    info = any_store.ensure_session("sara", "default")
    odd = {"role": "user", "content": "nul \u0000, emoji 🙂, quote ' and \" and \\", "z": 1, "a": 2}
    any_store.commit_turn(info, [odd])
    assert any_store.get_items(info) == [odd]
    assert list(any_store.get_items(info)[0]) == ["role", "content", "z", "a"]  # key order


# -- memory --------------------------------------------------------------------------------


def test_facts(any_store: Store) -> None:
    store = any_store
    store.ensure_user("sara")
    store.ensure_user("ali")
    store.set_fact("sara", "name", "Sara", "said")
    store.set_fact("sara", "city", "Lyon", "said")
    updated = store.set_fact("sara", "name", "Sarah", "corrected")
    store.set_fact("ali", "name", "Ali", "said")
    assert [(f.key, f.value) for f in store.list_facts("sara")] == [
        ("name", "Sarah"),
        ("city", "Lyon"),
    ]
    assert store.forget_fact("sara", str(updated.id)).value == "Sarah"
    assert store.forget_fact("sara", "city").key == "city"
    assert store.list_facts("sara") == []
    with pytest.raises(MemchatError):
        store.forget_fact("sara", "city")
    with pytest.raises(UserNotFound):
        store.set_fact("nobody", "k", "v", "s")
    assert [f.value for f in store.list_facts("ali")] == ["Ali"]


def test_forgetting_by_id_spares_a_fact_whose_key_is_that_number(any_store: Store) -> None:
    store = any_store
    store.ensure_user("sara")
    first = store.set_fact("sara", "name", "Sara", "said")
    numbered = store.set_fact("sara", str(first.id), "a key that looks like an id", "said")
    # The key wins; the id is taken only when no key matches.
    assert store.forget_fact("sara", str(first.id)) == numbered
    assert [f.key for f in store.list_facts("sara")] == ["name"]
    assert store.forget_fact("sara", str(first.id)).key == "name"
    assert store.list_facts("sara") == []


def test_messages_hidden_from_recall_are_the_users_own_and_go_with_them(
    any_store: Store,
) -> None:
    store = any_store
    sara = store.ensure_session("sara", "s")
    store.commit_turn(sara, [user_message("I live in Porto"), assistant("Nice, Porto")])
    store.commit_turn(store.ensure_session("ali", "s"), [user_message("I live in Lyon")])
    saras = [hit.item_id for hit in store.search("sara", "live")]
    alis = [hit.item_id for hit in store.search("ali", "live")]
    store.hide_from_recall("sara", saras + alis)  # ali's message is not sara's to hide
    store.hide_from_recall("sara", saras)  # and again: nothing changes
    assert store.hidden_from_recall("sara") == set(saras) and len(saras) == 1
    assert store.hidden_from_recall("ali") == set()
    # Deleting the message deletes its mark.
    store.pop_turn(sara)
    assert store.hidden_from_recall("sara") == set()


def test_summaries_follow_their_turns(any_store: Store) -> None:
    store = any_store
    info = store.ensure_session("sara", "default")
    assert store.get_summary(info) is None
    store.commit_turn(info, [user_message("one")])
    store.commit_turn(info, [user_message("two")])
    store.set_summary(info, 1, "said one")
    store.set_summary(info, 2, "said one and two")
    summary = store.get_summary(info)
    assert summary is not None and (summary.through_seq, summary.text) == (2, "said one and two")
    store.pop_turn(info)  # the summary remembered turn 2
    assert store.get_summary(info) is None


def test_prune_deletes_old_turns_and_empty_sessions(any_store: Store) -> None:
    store = any_store
    old = store.ensure_session("sara", "old")
    mixed = store.ensure_session("sara", "mixed")
    store.commit_turn(old, [user_message("ancient")], created_at=OLD)
    store.commit_turn(mixed, [user_message("old one")], created_at=OLD)
    store.commit_turn(mixed, [user_message("new one")])
    store.set_summary(mixed, 1, "mentions old one")
    store.set_fact("sara", "old", "fact", "said")
    ali = store.ensure_session("ali", "x")
    store.commit_turn(ali, [user_message("ali old")], created_at=OLD)

    report = store.prune("2021-01-01T00:00:00.000000Z", user="sara")
    assert (report.turns, report.sessions, report.facts) == (2, 1, 0)
    assert store.find_session("sara", "old") is None
    remaining = store.get_session("sara", "mixed")
    assert remaining.turn_count == 1
    assert texts_of(store.get_items(remaining)) == ["new one"]
    assert store.get_summary(remaining) is None  # it remembered pruned content
    assert texts_of(store.get_items(ali)) == ["ali old"]  # another user untouched
    assert store.search("sara", "old") == []
    store.vacuum()
    assert store.prune("2099-01-01T00:00:00.000000Z", facts=True).facts == 1


# -- import and export ---------------------------------------------------------------------


def test_export_import_round_trip(any_store: Store, tmp_path: Path) -> None:
    store = any_store
    info = store.create_session("sara", "trip", title="Trip", metadata={"tag": "x"})
    store.commit_turn(info, [user_message("pack?"), assistant("Socks.")], created_at=OLD)
    store.commit_turn(info, [user_message("and?"), assistant("A hat.")])
    store.set_summary(info, 1, "Sara packs socks.")
    store.set_fact("sara", "name", "Sara", "trip#1")
    store.hide_from_recall("sara", [hit.item_id for hit in store.search("sara", "hat")])
    out = io.StringIO()
    trip = store.get_session("sara", "trip")
    write_jsonl(session_records(store, [trip]), out, user_facts(store, "sara"))
    path = tmp_path / "export.jsonl"
    path.write_text(out.getvalue().replace('"user": "sara"', '"user": "ali"'))
    archive = read_jsonl(path)
    records = archive.sessions
    store.import_sessions(records, archive.facts)
    copied = store.get_session("ali", "trip")
    assert (copied.title, copied.metadata, copied.turn_count) == ("Trip", {"tag": "x"}, 2)
    assert store.get_turns(copied) == store.get_turns(store.get_session("sara", "trip"))
    assert [h.session_id for h in store.search("ali", "socks")] == ["trip"]
    # The summary, the facts (under their new owner) and what recall skips came along.
    assert store.get_summary(copied) == store.get_summary(trip)
    hidden = store.get_messages("ali", sorted(store.hidden_from_recall("ali")))
    assert [m.text for m in hidden] == ["A hat."]
    assert [(f.key, f.value, f.source) for f in store.list_facts("ali")] == [
        ("name", "Sara", "trip#1")
    ]
    # An imported fact replaces a stored one only if it is newer.
    store.set_fact("ali", "name", "Ali", "said")
    store.import_sessions([], archive.facts)
    assert [f.value for f in store.list_facts("ali")] == ["Ali"]
    # Importing any session that exists imports nothing.
    with pytest.raises(SessionExists):
        store.import_sessions([SessionRecord("bob", "new", None, OLD, {}, []), records[0]])
    with pytest.raises(UserNotFound):
        store.get_user("bob")


def test_records_read_from_a_store_import_whole_into_another(
    any_store: Store, tmp_path: Path
) -> None:
    """Records straight from ``session_records`` (no JSONL between), whose turns are
    numbered with a gap (a turn was undone), import with what recall skips: the import
    numbers the turns afresh and moves the hidden items along."""
    store = any_store
    info = store.create_session("sara", "trip")
    store.commit_turn(info, [user_message("dropped")])
    store.pop_turn(info)
    store.commit_turn(info, [user_message("pack?"), assistant("Socks.")])
    store.commit_turn(info, [user_message("and?"), assistant("A hat.")])
    store.hide_from_recall("sara", [hit.item_id for hit in store.search("sara", "hat")])
    (record,) = session_records(store, [store.get_session("sara", "trip")])
    assert [turn.seq for turn in record.turns] == [2, 3] and record.hidden == ((3, 1),)
    with open_store(tmp_path / "other.db") as other:
        other.import_sessions([record])
        copied = other.get_session("sara", "trip")
        assert [turn.seq for turn in other.get_turns(copied)] == [1, 2]
        assert texts_of(other.get_items(copied)) == ["pack?", "Socks.", "and?", "A hat."]
        hidden = other.get_messages("sara", sorted(other.hidden_from_recall("sara")))
        assert [m.text for m in hidden] == ["A hat."]
        assert other.commit_turn(copied, [user_message("next")]) == 3


# -- search --------------------------------------------------------------------------------


def test_bad_search_parameters_are_refused_alike(any_store: Store) -> None:
    """Checked in the shared contract, before either backend runs its query."""
    store = any_store
    store.commit_turn(store.ensure_session("sara", "trip"), [user_message("Which café in Lyon?")])
    good: dict[str, Any] = {"limit": 5, "session_id": None, "highlight": ("[", "]")}
    bad_searches: list[tuple[str, Any, dict[str, Any], type[Exception]]] = [
        ("a b", "lyon", {}, InvalidName),
        ("sara", "lyon", {"session_id": "a/b"}, InvalidName),
        ("sara", "lyon", {"limit": -1}, ValueError),
        ("sara", "lyon", {"limit": None}, ValueError),
        ("sara", "lyon", {"limit": 2.5}, ValueError),
        ("sara", "lyon", {"limit": True}, ValueError),
        ("sara", "lyon", {"highlight": ("[",)}, ValueError),
        ("sara", "lyon", {"highlight": (1, 2)}, ValueError),
        ("sara", None, {}, ValueError),
    ]
    for user, query, change, error in bad_searches:
        with pytest.raises(error):
            store.search(user, query, **{**good, **change})
    recall: dict[str, Any] = {"limit": 5, "session_id": None, "context_weights": (0.5, 0.3)}
    bad_recalls: list[tuple[str, Any, dict[str, Any], type[Exception]]] = [
        ("a b", ["lyon"], {}, InvalidName),
        ("sara", ["lyon"], {"session_id": ""}, InvalidName),
        ("sara", "lyon", {}, ValueError),  # a string is not a list of words
        ("sara", ["lyon", 3], {}, ValueError),
        ("sara", ["lyon"], {"limit": -5}, ValueError),
        ("sara", ["lyon"], {"context_weights": (0.5,)}, ValueError),
        ("sara", ["lyon"], {"context_weights": (-1.0, 0.3)}, ValueError),
        ("sara", ["lyon"], {"context_weights": (float("nan"), 0.3)}, ValueError),
    ]
    for user, words, change, error in bad_recalls:
        with pytest.raises(error):
            store.match_messages(user, words, **{**recall, **change})
    # The same calls with good parameters find the message.
    assert [h.session_id for h in store.search("sara", "lyon", **good)] == ["trip"]
    found = store.match_messages("sara", ["lyon"], **recall)
    assert [m.text for m in found] == ["Which café in Lyon?"]
    assert store.search("sara", "lyon", limit=0) == []


def test_search_ranks_scopes_and_highlights(any_store: Store) -> None:
    store = any_store
    trip = store.ensure_session("sara", "trip")
    work = store.ensure_session("sara", "work")
    store.commit_turn(
        trip, [user_message("Which café in Lyon?"), assistant("Try the one by the river.")]
    )
    store.commit_turn(work, [user_message("The quarterly report is due Friday")])
    store.commit_turn(store.ensure_session("ali", "x"), [user_message("Lyon for ali")])

    hits = store.search("sara", "lyon cafe", highlight=("<", ">"))
    assert [(h.session_id, h.role) for h in hits] == [("trip", "user")]
    assert "<Lyon>" in hits[0].snippet and hits[0].score > 0
    assert store.search("sara", "report lyon")  # none has both: any of them
    assert [h.session_id for h in store.search("sara", "lyon", session_id="work")] == []
    assert store.search("sara", "  ;; ") == [] and store.search("sara", "lyon", limit=0) == []
    assert store.search("sara", "\"') OR 1=1 --") == []

    # Recall finds the reply by the words of the question before it.
    found = store.match_messages("sara", ["lyon"], limit=5)
    assert [m.text for m in found][:2] == ["Which café in Lyon?", "Try the one by the river."]
    reply_item = found[1]
    assert reply_item.previous == (found[0].item_id,) and found[0].score > reply_item.score
    assert store.get_messages("sara", [reply_item.item_id, 10**9])[0].text == reply_item.text
    assert store.get_messages("ali", [reply_item.item_id]) == []


def test_messages_near_and_all_messages(any_store: Store) -> None:
    """Recall reads the turns around a match, and a short history whole: the user's only."""
    store = any_store
    trip = store.ensure_session("sara", "trip")
    for n in range(1, 6):
        store.commit_turn(trip, [user_message(f"trip {n}"), assistant(f"ok {n}")])
    store.commit_turn(store.ensure_session("sara", "work"), [user_message("work 1")])
    store.commit_turn(store.ensure_session("ali", "trip"), [user_message("ali 1")])

    near = store.messages_near("sara", [("trip", 2, 3), ("trip", 3, 4), ("nope", 1, 9)])
    assert [m.text for m in near] == ["trip 2", "ok 2", "trip 3", "ok 3", "trip 4", "ok 4"]
    assert [m.seq for m in near] == [2, 2, 3, 3, 4, 4]
    assert store.messages_near("ali", [("trip", 1, 9)])[0].text == "ali 1"
    assert store.messages_near("sara", []) == []

    whole = store.all_messages("sara", limit=11)
    assert whole is not None and [m.text for m in whole][-3:] == ["trip 5", "ok 5", "work 1"]
    assert store.all_messages("sara", limit=10) is None  # 11 items: more than the limit
    only = store.all_messages("sara", limit=10, session_id="work")
    assert only is not None and [m.text for m in only] == ["work 1"]
    assert store.all_messages("nobody", limit=10) == []


# -- access --------------------------------------------------------------------------------


def test_tokens_and_admins(any_store: Store) -> None:
    store = any_store
    store.ensure_user("sara")
    token = store.create_token("sara")
    found = store.user_for_token(token)
    assert found is not None and found.name == "sara"
    assert store.user_for_token(token + "x") is None
    assert not store.is_admin("sara")
    store.set_admin("sara", True)
    assert store.is_admin("sara")
    assert store.revoke_tokens("sara") == 1
    assert store.user_for_token(token) is None
    with pytest.raises(UserNotFound):
        store.create_token("nobody")
