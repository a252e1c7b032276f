"""For a small model, memory shows the user's facts as its own earlier answer to the user.

Told them in a system message, the embedded model answered questions about the user as
the user ("My name is Xavier"); shown them as what it said to the user, it goes on in
that voice (bench/first_person.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent
from agents.testing import ScriptedModel

from memchat.chat import Chat
from memchat.memory.context import RECALLED, Memory, store_recall
from memchat.memory.factsheet import FACTS_ANSWER, FACTS_QUESTION, said_to_user
from memchat.store import Store

from .helpers import reply, user_message


def assistant(text: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "type": "message",
        "content": [{"type": "output_text", "text": text}],
    }


def test_facts_are_said_to_the_user() -> None:
    assert said_to_user("name", "Xavier") == "Your name is Xavier."
    assert said_to_user("home", "Porto") == "You live in Porto."
    assert said_to_user("work", "a nurse") == "You work as a nurse."
    assert said_to_user("allergy", "peanuts") == "You are allergic to peanuts."
    assert said_to_user("favourite colour", "teal") == "Your favourite colour is teal."
    assert said_to_user("cats", "Miso and Pixel") == "Your cats are Miso and Pixel."
    assert said_to_user("instrument", "cello") == "You play the cello."
    assert said_to_user("sport", "tennis and chess") == "You play tennis and chess."
    assert said_to_user("sister", "Ana") == "Your sister is Ana."
    assert said_to_user("address", "1 Rua Nova") == "Your address is 1 Rua Nova."


async def test_the_model_is_given_the_facts_as_its_answer_then_the_conversation(
    store: Store,
) -> None:
    """In order: the instructions, the exchange telling the facts, the summary, the recent
    turns, the excerpts recalled for this message, the message."""
    store.ensure_user("sara")
    store.set_fact("sara", "name", "Sara", "manual")
    store.set_fact("sara", "home", "Lisbon", "manual")
    store.set_fact("sara", "home", "Porto", "manual")
    older = store.ensure_session("sara", "older")
    for n in range(200):  # too much to be shown whole: recall picks excerpts
        store.commit_turn(older, [user_message(f"the lighthouse keeper said thing {n} " * 3)])
    session = store.session("sara", "now")
    for n in range(40):  # enough for the window to be cut back and summarized
        store.commit_turn(session.info, [user_message(f"chat {n} " * 8), assistant(f"ok {n}")])
    model = ScriptedModel([reply("Thing 7.")])
    memory = Memory(store, 1536, recall=store_recall(store), facts_as_answer=True)
    chat = Chat(Agent(name="a", instructions="Be brief.", model=model), memory=memory)
    result = await chat.run_turn(session, "what did the lighthouse keeper say, thing 7?")
    assert model.last_call is not None and result.context is not None
    given = [(item.get("role"), str(item.get("content"))) for item in model.last_call.input]
    assert given[0] == ("user", FACTS_QUESTION)
    role, said = given[1]
    assert role == "assistant" and said.startswith(FACTS_ANSWER)
    assert "You live in Porto. (Until " in said and ": Lisbon.)" in said
    assert "Your name is Sara." in said and "- name" not in said
    role, summary = given[2]
    assert role == "system" and summary.startswith("Summary of the earlier conversation:")
    assert "What you know about the user" not in summary
    recalled = {part.name: part.text for part in result.context.parts}[RECALLED]
    assert given[-2:] == [
        ("system", recalled),
        ("user", "what did the lighthouse keeper say, thing 7?"),
    ]
    window = given[3:-2]
    assert window and window[0][0] == "user" and "chat" in window[0][1]
    assert {role for role, _ in window} == {"user", "assistant"}
    assert result.context.tokens <= 1536


@pytest.mark.parametrize("as_answer", [False, True])
async def test_either_way_the_facts_fit_the_budget(store: Store, as_answer: bool) -> None:
    store.ensure_user("sara")
    for n in range(60):
        store.set_fact("sara", f"fact number {n}", f"the value of fact {n} is {n * 7}", "t")
    info = store.ensure_session("sara", "default")
    for n in range(50):
        store.commit_turn(info, [user_message(f"turn {n} " * 20), assistant(f"answer {n} " * 9)])
    memory = Memory(store, 400, recall=store_recall(store), facts_as_answer=as_answer)
    context = await memory.assemble(info, "and now?", "Be brief.")
    assert context.tokens <= 400
    facts = {part.name: part for part in context.parts}["facts and summary"]
    assert ("Your fact number" in facts.text) == as_answer
    assert ("- fact number" in facts.text) != as_answer
