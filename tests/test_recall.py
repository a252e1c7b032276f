"""Recall: the passages of a user's history most relevant to a new message."""

from __future__ import annotations

import pytest

from memchat.memory.recall import MAX_PASSAGE_CHARS, recall
from memchat.store import Store

from .helpers import user_message
from .test_search import assistant, say, with_filler


def test_recall_finds_question_and_answer(any_store: Store) -> None:
    with_filler(any_store)
    session = any_store.ensure_session("sara", "pets")
    say(any_store, session, "What should I name my new puppy?", "How about Biscuit?")
    say(any_store, session, "I like that", "Great, Biscuit it is.")
    passages = recall(any_store, "sara", "what was the new puppy called?", k=3)
    texts = [p.text for p in passages]
    assert texts[:2] == ["What should I name my new puppy?", "How about Biscuit?"]
    first = passages[0]
    assert (first.role, first.session_id) == ("user", "pets")
    assert first.date.startswith("20") and first.score > passages[1].score > 0
    # The answer is also found by its own words, and the question by the answer's.
    biscuit = recall(any_store, "sara", "biscuit", k=5)
    assert {"How about Biscuit?", "What should I name my new puppy?"} <= {p.text for p in biscuit}


def test_recall_returns_at_most_k_single_bounded_messages(any_store: Store) -> None:
    session = any_store.ensure_session("sara", "long")
    essay = "filler words " * 400 + "the treasure is under the old oak " + "more text " * 400
    say(any_store, session, "where is the treasure?", essay)
    for n in range(10):
        say(any_store, session, f"treasure note {n}")
    passages = recall(any_store, "sara", "treasure oak", k=4)
    assert len(passages) == 4
    assert len({p.item_id for p in passages}) == 4
    long = next(p for p in recall(any_store, "sara", "oak", k=1))
    assert len(long.text) <= MAX_PASSAGE_CHARS
    assert "treasure is under the old oak" in long.text
    assert long.text.startswith("…") and long.text.endswith("…")
    assert recall(any_store, "sara", "treasure", k=0) == []


def test_recall_scopes_and_exclusions(any_store: Store) -> None:
    with_filler(any_store, "sara")
    with_filler(any_store, "ali")
    say(any_store, any_store.ensure_session("sara", "a"), "my bike is red")
    say(any_store, any_store.ensure_session("sara", "b"), "I sold the bike")
    say(any_store, any_store.ensure_session("ali", "a"), "ali has a bike too")
    everything = recall(any_store, "sara", "bike", k=10)
    assert {p.text for p in everything} == {"my bike is red", "I sold the bike"}
    only_b = recall(any_store, "sara", "bike", k=10, session_id="b")
    assert [p.text for p in only_b] == ["I sold the bike"]
    red = next(p for p in everything if p.text == "my bike is red")
    rest = recall(any_store, "sara", "bike", k=10, exclude_item_ids={red.item_id})
    assert [p.text for p in rest] == ["I sold the bike"]
    assert [p.text for p in recall(any_store, "ali", "bike", k=10)] == ["ali has a bike too"]
    assert recall(any_store, "nobody", "bike", k=10) == []


def test_a_named_date_favours_messages_from_then(any_store: Store) -> None:
    with_filler(any_store)
    # Two sessions, so that neither message is the other's context.
    june, september = (any_store.ensure_session("sara", name) for name in ("june", "september"))
    # Equally long, so that only the date tells them apart.
    say(any_store, june, "we had ramen at dinner", created_at="2023-06-03T19:00:00.000000Z")
    say(any_store, september, "we had ramen for lunch", created_at="2023-09-20T12:00:00.000000Z")
    assert recall(any_store, "sara", "ramen", k=1)[0].text == "we had ramen for lunch"
    for asked in ("What ramen did we eat on 3 June, 2023?", "ramen in June", "ramen June 2023"):
        assert recall(any_store, "sara", asked, k=1)[0].text == "we had ramen at dinner", asked
    # A date alone is not something to search for.
    assert recall(any_store, "sara", "on 3 June 2023", k=5) == []


def test_a_named_speaker_favours_their_messages(any_store: Store) -> None:
    with_filler(any_store)
    say(any_store, any_store.ensure_session("sara", "a"), "pottery is fun")
    any_store.commit_turn(
        any_store.ensure_session("sara", "b"),
        [user_message("tell me something"), assistant("pottery, pottery: I read about pottery")],
    )
    names = {"Sara": "user", "Max": "assistant"}
    assert recall(any_store, "sara", "what pottery", k=1)[0].role == "assistant"
    assert recall(any_store, "sara", "what pottery does Sara do", k=1, speakers=names)[0].role == (
        "user"
    )
    # Naming both speakers favours neither.
    both = recall(any_store, "sara", "Sara and Max pottery", k=1, speakers=names)
    assert both[0].role == "assistant"


@pytest.mark.parametrize(
    "query", ["", "the and of", '"', "*", "AND OR NOT", "NEAR(", "😀", "ramen*", "x" * 5000]
)
def test_any_message_is_safe_to_recall_for(any_store: Store, query: str) -> None:
    say(any_store, any_store.ensure_session("sara", "s"), "ramen and dumplings")
    passages = recall(any_store, "sara", query, k=5)
    assert [p.text for p in passages] == (["ramen and dumplings"] if "ramen" in query else [])


def test_feedback_finds_a_message_that_shares_no_word_with_the_query(any_store: Store) -> None:
    with_filler(any_store)
    session = any_store.ensure_session("sara", "home")
    say(any_store, session, "My pet tortoise Shelly is ten years old")
    for n in range(12):
        say(any_store, session, f"I walked past the pet shop again, day {n}")
    say(any_store, any_store.ensure_session("sara", "garden"), "Shelly ate all the lettuce")
    texts = [p.text for p in recall(any_store, "sara", "Which pets do I have?", k=20)]
    # Found (after the messages that do say "pet") through "Shelly" and "tortoise", the
    # words that stand out in the best match; "walked", "shop" and "day" are in too many
    # of the matches to say anything.
    assert "Shelly ate all the lettuce" in texts
    assert texts[0] == "My pet tortoise Shelly is ten years old"


def test_a_statement_outranks_an_equally_matching_question(any_store: Store) -> None:
    with_filler(any_store)
    say(any_store, any_store.ensure_session("sara", "a"), "you do like tea!")
    # Newer, which would win a tie.
    say(any_store, any_store.ensure_session("sara", "b"), "do you like tea?")
    assert [p.text for p in recall(any_store, "sara", "tea", k=2)] == [
        "you do like tea!",
        "do you like tea?",
    ]


def test_a_question_asking_for_a_name_favours_messages_that_name_something(
    any_store: Store,
) -> None:
    with_filler(any_store)
    # Equally long, in sessions of their own, the plain one newer (it would win a tie).
    say(any_store, any_store.ensure_session("sara", "a"), "I finished reading Dune today")
    say(any_store, any_store.ensure_session("sara", "b"), "I finished reading mine today")
    texts = [p.text for p in recall(any_store, "sara", "What books did Sara finish reading?", k=2)]
    assert texts == ["I finished reading Dune today", "I finished reading mine today"]
    # A question that asks for no name keeps the tie as it was.
    texts = [p.text for p in recall(any_store, "sara", "Did Sara finish reading?", k=2)]
    assert texts == ["I finished reading mine today", "I finished reading Dune today"]


def _victim_history(store: Store) -> None:
    session = store.ensure_session("victim", "docs")
    store.commit_turn(session, [user_message("My passport number is XK42QZ.")])
    for n in range(12):
        store.commit_turn(session, [user_message(f"The renewal of the gym card, note {n}.")])
        store.commit_turn(session, [user_message(f"Groceries for week {n}: rice and tea.")])


def test_another_users_messages_never_change_what_recall_finds(any_store: Store) -> None:
    """One user cannot push another's messages out of recall: a user who writes "passport"
    a thousand times leaves another's "passport renewal" recall as it was."""
    _victim_history(any_store)
    query = "When is my passport renewal?"
    before = [(p.item_id, p.text) for p in recall(any_store, "victim", query, k=5)]
    assert before[0][1] == "My passport number is XK42QZ."

    spam = any_store.ensure_session("attacker", "spam")
    for n in range(1100):
        any_store.commit_turn(spam, [user_message(f"passport passport spam {n}")])
    after = [(p.item_id, p.text) for p in recall(any_store, "victim", query, k=5)]
    assert after == before
