"""Facts know where they came from, keep what they were, and go with their messages."""

from __future__ import annotations

import itertools
from typing import Any

from agents import Agent
from agents.testing import ScriptedModel, function_call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memchat.chat import Chat
from memchat.memory.context import Memory
from memchat.memory.tools import MEMORY_TOOLS
from memchat.store import SessionInfo, Store

from .helpers import reply, system_notes, user_message


def say(store: Store, info: SessionInfo, text: str) -> int:
    """Commit a turn saying ``text`` and learn from it as a chat does; its seq."""
    seq = store.commit_turn(info, [user_message(text), {"role": "assistant", "content": "ok"}])
    Memory(store, budget=4000).learn(info, text, seq)
    return seq


def facts(store: Store, user: str = "sara") -> dict[str, str]:
    return {fact.key: fact.value for fact in store.list_facts(user)}


def test_a_learned_fact_names_the_message_it_came_from(store: Store) -> None:
    info = store.ensure_session("sara", "pets")
    say(store, info, "Hello there")
    seq = say(store, info, "My dog is called Rex")
    (fact,) = store.list_facts("sara")
    turn = store.get_turns(info)[1]
    assert [(s.session_id, s.seq, s.item_id) for s in store.fact_sources("sara")[fact.id]] == [
        ("pets", seq, turn.item_ids[0])
    ]
    assert fact.valid_from is not None


def test_undoing_the_turns_that_taught_a_fact_forgets_it(store: Store) -> None:
    # The report: "dog: Rex" stayed after undoing both turns that said it.
    info = store.ensure_session("sara", "pets")
    say(store, info, "I have a dog called Rex")
    say(store, info, "My dog is Rex the beagle")
    assert facts(store) == {"dog": "Rex the beagle"}
    store.pop_turn(info)
    assert facts(store) == {"dog": "Rex"}  # the first turn's value, which still stands
    store.pop_turn(info)
    assert facts(store) == {}
    assert store.fact_history("sara") == []


def test_a_fact_said_twice_stays_until_both_messages_go(store: Store) -> None:
    one = store.ensure_session("sara", "one")
    two = store.ensure_session("sara", "two")
    say(store, one, "My name is Sara")
    say(store, two, "my name is Sara")
    (fact,) = store.list_facts("sara")
    assert [s.session_id for s in store.fact_sources("sara")[fact.id]] == ["one", "two"]
    store.delete_session("sara", "one")
    assert facts(store) == {"name": "Sara"}
    store.clear_session(two)
    assert facts(store) == {}


def test_a_new_value_supersedes_the_old_which_keeps_its_dates(store: Store) -> None:
    info = store.ensure_session("sara", "life")
    say(store, info, "I live in Porto")
    say(store, info, "I moved to Lisbon")
    (fact,) = store.list_facts("sara")
    assert (fact.key, fact.value) == ("home", "Lisbon")
    (before,) = store.fact_history("sara", "home")
    assert (before.value, before.valid_to) == ("Porto", fact.valid_from)
    assert before.valid_from < before.valid_to
    assert [(s.session_id, s.seq) for s in before.sources] == [("life", 1)]
    # Undo the move: Porto is the home again, still traced to its message.
    store.pop_turn(info)
    (fact,) = store.list_facts("sara")
    assert (fact.value, fact.valid_from) == ("Porto", before.valid_from)
    assert [s.seq for s in store.fact_sources("sara")[fact.id]] == [1]
    assert store.fact_history("sara") == []


def test_deleting_the_old_message_drops_only_the_history(store: Store) -> None:
    old = store.ensure_session("sara", "old")
    new = store.ensure_session("sara", "new")
    say(store, old, "I live in Porto")
    say(store, new, "I moved to Lisbon")
    store.delete_session("sara", "old")
    assert facts(store) == {"home": "Lisbon"}
    assert store.fact_history("sara") == []


def test_a_fact_set_by_hand_outlives_the_chats(store: Store) -> None:
    info = store.ensure_session("sara", "life")
    store.set_fact("sara", "home", "Braga", "manual")
    say(store, info, "I live in Porto")
    assert store.fact_history("sara", "home")[0].value == "Braga"
    store.delete_session("sara", "life")
    assert facts(store) == {"home": "Braga"}
    # Said by hand and in a chat: the hand's word keeps it.
    info = store.ensure_session("sara", "again")
    say(store, info, "I live in Braga")
    store.delete_session("sara", "again")
    assert facts(store) == {"home": "Braga"}


def test_forgetting_a_fact_forgets_its_history(store: Store) -> None:
    info = store.ensure_session("sara", "life")
    say(store, info, "I live in Porto")
    say(store, info, "I moved to Lisbon")
    store.forget_fact("sara", "home")
    assert facts(store) == {} and store.fact_history("sara") == []
    assert store.fact_sources("sara") == {}


def test_a_regenerated_turn_learns_afresh(store: Store) -> None:
    info = store.ensure_session("sara", "s")
    say(store, info, "My cat is Miso")
    seq = store.commit_turn(info, [user_message("My cat is Tofu")], replace_last=True)
    Memory(store, budget=4000).learn(info, "My cat is Tofu", seq)
    assert facts(store) == {"cat": "Tofu"}
    # Miso's message stays, on the branch the regeneration left: so does its history.
    assert [version.value for version in store.fact_history("sara")] == ["Miso"]


def test_a_summary_that_covered_a_deleted_turn_is_dropped(store: Store) -> None:
    info = store.ensure_session("sara", "s")
    for n in range(4):
        say(store, info, f"message {n}")
    store.set_summary(info, 2, "Sara said message 0 and message 1")
    store.pop_turn(info)
    assert store.get_summary(info) is not None  # turn 4 was not in it
    store.prune("9999-01-01", user="sara")
    assert store.get_summary(info) is None


def test_prune_forgets_what_the_pruned_turns_taught(store: Store) -> None:
    info = store.ensure_session("sara", "s")
    say(store, info, "My dog is Rex")
    store.set_fact("sara", "name", "Sara", "manual")
    report = store.prune("9999-01-01", user="sara")
    assert report.turns == 1
    assert facts(store) == {"name": "Sara"}


async def test_the_model_sees_the_current_value_and_the_one_before(store: Store) -> None:
    model = ScriptedModel([reply("Noted"), reply("Noted"), reply("Lisbon")])
    chat = Chat(Agent(name="a", model=model), memory=Memory(store, budget=4000))
    await chat.run_turn(store.session("sara", "one"), "I live in Porto")
    await chat.run_turn(store.session("sara", "one"), "I moved to Lisbon")
    await chat.run_turn(store.session("sara", "two"), "Where do I live?")
    assert model.last_call is not None
    notes = system_notes(model.last_call.input)
    assert "- home: Lisbon (until " in notes and ": Porto)" in notes


async def test_a_fact_the_tool_remembered_names_its_turn(store: Store) -> None:
    steps: list[Any] = [
        [function_call("remember", {"key": "allergy", "value": "peanuts"}, call_id="c1")],
        reply("Noted"),
    ]
    agent: Agent[Any] = Agent(name="a", model=ScriptedModel(steps), tools=list(MEMORY_TOOLS))
    chat = Chat(agent, memory=Memory(store, budget=4000))
    await chat.run_turn(store.session("sara", "food"), "I can't eat peanuts")
    (fact,) = store.list_facts("sara")
    assert fact.source == "tool: food#1"
    assert [s.seq for s in store.fact_sources("sara")[fact.id]] == [1]
    store.pop_turn(store.get_session("sara", "food"))
    assert facts(store) == {}


_USERS = itertools.count()
_STATEMENTS = ["I live in Porto", "I moved to Lisbon", "My dog is Rex", "My dog is Max", "hi"]
_ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(["a", "b"]), st.sampled_from(_STATEMENTS)),
        st.tuples(st.just("undo"), st.sampled_from(["a", "b"]), st.just("")),
        st.tuples(st.just("delete"), st.sampled_from(["a", "b"]), st.just("")),
        st.tuples(st.just("prune"), st.just(""), st.just("")),
        st.tuples(st.just("manual"), st.just(""), st.sampled_from(["Braga", "Rex"])),
    ),
    max_size=14,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=_ACTIONS)
def test_no_fact_outlives_every_message_it_came_from(store: Store, actions: list[Any]) -> None:
    user = f"u{next(_USERS)}"  # a fresh user per example: the store is the test's
    store.ensure_user(user)
    # Session b is in a scoped project: what it teaches is the project's, a is user-wide.
    store.set_project_memory(user, "p", scoped=True)
    home = {"a": "", "b": "p"}
    for action, session, text in actions:
        if action == "say":
            info = store.find_session(user, session)
            info = info or store.create_session(user, session, project=home[session])
            say(store, info, text)
        elif action == "undo" and (info := store.find_session(user, session)):
            store.pop_turn(info)
        elif action == "delete" and store.find_session(user, session):
            store.delete_session(user, session)
        elif action == "prune":
            store.prune("9999-01-01", user=user)
        elif action == "manual":
            store.set_fact(user, "home" if text == "Braga" else "dog", text, "manual")
        manual = {t for a, _, t in actions if a == "manual"}
        sources = store.fact_sources(user)
        for fact in store.list_facts(user):
            # Each fact stands on a message still there, or on the user's own word.
            traced = sources.get(fact.id, [])
            assert traced or fact.source == "manual" or fact.value in manual
            for source in traced:
                # A fact, and whatever it fell back to, stays in the project it was said in.
                assert home[source.session_id] == fact.project
                info = store.get_session(user, source.session_id)
                turn = next(t for t in store.get_turns(info) if t.seq == source.seq)
                assert turn.item_ids[0] == source.item_id
                assert fact.value in turn.items[0]["content"] or fact.source == "manual"
        for version in store.fact_history(user):
            assert all(source.item_id for source in version.sources)
            assert all(home[source.session_id] == version.project for source in version.sources)
            assert version.sources or version.source == "manual"
