"""Questions that ask for a name, and messages that hold one, for recall.

"Which city...", "Who...", "What books has Tim read?" are answered by a message that names
something: "I loved 'Becoming Nicole'", "my trip to the Smoky Mountains". Words alone rank
"I love reading" as high as those; knowing the answer is a name tells them apart (the
answer types of classic question answering, kept to the one that pays here).
"""

from __future__ import annotations

import re

# Kinds of things that are known by a name: "what <kind>", "which <adjective> <kind>".
_NAMED_KINDS = (
    r"books?|novels?|authors?|writers?|movies?|films?|shows?|series|songs?|albums?|bands?"
    r"|singers?|artists?|musicians?|games?|teams?|players?|city|cities|towns?|country"
    r"|countries|states?|places?|restaurants?|brands?|compan(?:y|ies)|stores?|shops?"
    r"|schools?|universit(?:y|ies)|colleges?|names?|titles?|destinations?|locations?|parks?"
    r"|museums?|languages?|cars?|apps?|websites?|podcasts?|characters?"
)
_ASKS_FOR_NAME = re.compile(
    rf"^\W*(?:who|which|where)\b|\bwhat\s+(?:\w+\s+){{0,2}}(?:{_NAMED_KINDS})\b", re.IGNORECASE
)
# Every capital letter Python knows in the Basic Multilingual Plane, for one C-speed scan.
_CAPITALS = re.escape("".join(ch for ch in map(chr, range(0x10000)) if ch.isupper()))
# A capitalised word after a blank that does not end a sentence: not a sentence's first word.
_INNER_CAPITALISED = re.compile(rf"[^.!?\s][\s\"“(]+([{_CAPITALS}][\w'\u2019]*)")
_QUOTED = re.compile(r"[\"“][^\"”]+[\"”]")


def asks_for_name(question: str) -> bool:
    """Whether ``question`` asks who, which or where, or for a kind of thing with a name."""
    return _ASKS_FOR_NAME.search(question) is not None


def names_something(text: str, ignore: frozenset[str]) -> bool:
    """Whether ``text`` quotes a title or capitalises a word inside a sentence.

    The first word of a sentence, "I" and the words in ``ignore`` (lowercase: say, the
    speakers' own names, with which people greet each other) do not count.
    """
    if _QUOTED.search(text):
        return True
    return any(
        word.lower() not in ignore and not _is_i(word) for word in _INNER_CAPITALISED.findall(text)
    )


def _is_i(word: str) -> bool:
    return word == "I" or word.startswith(("I'", "I\u2019"))
