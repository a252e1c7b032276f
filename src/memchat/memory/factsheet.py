"""The fact sheet: what the model is told of the user's facts each turn, within its room,
and how it is shown with the summary (``memory_notes``).

A session sees the user-wide facts and, in a project whose memory is scoped, that
project's facts too, a project's fact winning over a user-wide one of the same key
(``visible_facts``). Facts of other projects are never in its view.

As notes ("- name: Xavier"), or as the assistant says them to the user ("Your name is
Xavier.", "You live in Porto."), for a model shown them as its own earlier answer, so
that it goes on speaking to the user about them rather than as the user
(bench/first_person.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..store import Store
from ..store.records import Fact

# Facts under the keys memory.facts gives them, said to the user; other keys read
# "Your <key> is <value>." ("Your favourite colour is teal.").
_SAID: dict[str, str] = {
    "name": "Your name is {}.",
    "home": "You live in {}.",
    "from": "You are from {}.",
    "work": "You work as {}.",
    "age": "You are {} years old.",
    "allergy": "You are allergic to {}.",
    "born": "You were born in {}.",
    "instrument": "You play the {}.",
    "sport": "You play {}.",
}


def facts_in_view(store: Store, user: str, project: str | None) -> list[Fact]:
    """Every fact a session of ``project`` (None: no scoped project) sees or shadows: the
    project's, then the user-wide ones, each most recently updated first."""
    scoped = store.list_facts(user, project=project) if project else []
    return scoped + store.list_facts(user, project="")


def visible_facts(store: Store, user: str, project: str | None) -> list[Fact]:
    """The facts a session of ``project`` (None: no scoped project) is given, one per key
    (the project's over the user-wide one), most recently updated first."""
    seen: dict[str, Fact] = {}
    for fact in facts_in_view(store, user, project):
        seen.setdefault(fact.key, fact)
    return sorted(seen.values(), key=lambda fact: fact.position, reverse=True)


def said_to_user(key: str, value: str) -> str:
    """One fact as a sentence to the user: "Your name is Xavier."."""
    if key in _SAID:
        return _SAID[key].format(value)
    plural = key.endswith("s") and not key.endswith("ss")
    return f"Your {key} {'are' if plural else 'is'} {value}."


def fact_sheet(
    store: Store,
    user: str,
    limit: int,
    count: Callable[[str], int],
    project: str | None = None,
    *,
    to_user: bool = False,
) -> str:
    """The facts a session of ``project`` sees (``visible_facts``) as "- key: value"
    lines (``to_user``: as sentences to the user, one paragraph), most recently updated
    first, as many as ``limit`` tokens hold (``count`` measures a line). A changed fact
    shows its last earlier value, for questions about the past, where the room allows:
    the current value comes first."""
    lines: list[str] = []
    used = 0
    places = ["", project] if project else [""]
    before = {
        (version.project, version.key): version
        for place in places
        for version in store.fact_history(user, project=place)
    }
    for fact in visible_facts(store, user, project):
        line = said_to_user(fact.key, fact.value) if to_user else f"- {fact.key}: {fact.value}"
        cost = count(line) + 1
        if used + cost > limit:
            break
        if (earlier := before.get((fact.project, fact.key))) is not None:
            until = f"until {earlier.valid_to[:10]}: {earlier.value}"
            longer = f"{line} ({until[0].upper()}{until[1:]}.)" if to_user else f"{line} ({until})"
            if used + (more := count(longer) + 1) <= limit:
                line, cost = longer, more
        lines.append(line)
        used += cost
    # Said to the user, the facts read as one paragraph: told them a line each, the
    # model answered most questions with the first line.
    return (" " if to_user else "\n").join(lines)


_FACTS_HEADER = "What you know about the user:\n"
_SUMMARY_HEADER = "Summary of the earlier conversation:\n"
# With ``as_answer`` (``Memory.facts_as_answer``) the facts are shown as an exchange in
# which the assistant tells the user what it knows of them: a small model goes on in the
# voice it finds. Told
# "What you know about the user: - name: Xavier" in a system message, the embedded model
# answered "What's my name?" with "My name is Xavier" (bench/first_person.py).
FACTS_QUESTION = "What have I told you about myself?"
FACTS_ANSWER = "Here is what you have told me about yourself: "
# What the memory items take beyond the facts and the summary, in each form.
NOTES_EXTRA = _FACTS_HEADER + "\n\n" + _SUMMARY_HEADER
ANSWER_EXTRA = FACTS_QUESTION + FACTS_ANSWER + _SUMMARY_HEADER


def memory_notes(
    facts: str, summary: str, *, as_answer: bool
) -> list[tuple[Literal["user", "assistant", "system"], str]]:
    """The facts and the summary as one system message; or, ``as_answer``, the facts as an
    exchange (the user's question, the assistant's answer), then the summary. (role, text)
    pairs."""
    messages: list[tuple[Literal["user", "assistant", "system"], str]] = []
    if facts and as_answer:
        messages += [("user", FACTS_QUESTION), ("assistant", FACTS_ANSWER + facts)]
        facts = ""
    notes = [
        text
        for text in (facts and _FACTS_HEADER + facts, summary and _SUMMARY_HEADER + summary)
        if text
    ]
    if notes:
        messages.append(("system", "\n\n".join(notes)))
    return messages
