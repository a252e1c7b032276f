"""Which questions ask for a name, and which messages name something."""

from __future__ import annotations

import pytest

from memchat.memory.answers import asks_for_name, names_something


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Who did Sara meet in Paris?", True),
        ("which city did John visit?", True),
        ("Where has Melanie camped?", True),
        ("What books has Tim read?", True),
        ("What fantasy novels does Tim like?", True),
        ("What is the name of Sara's dog?", True),
        ("What did Melanie paint recently?", False),
        ("When did Nate win his third tourney?", False),
        ("How many pets does Andrew have?", False),
        ("Is a bookshelf what Tim wants?", False),
    ],
)
def test_asks_for_name(question: str, asks: bool) -> None:
    assert asks_for_name(question) is asks


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("We saw the Smoky Mountains last year", True),
        ('I loved "Becoming Nicole" so much', True),
        ("I loved “Becoming Nicole” so much", True),
        ("Thanks, Caroline. I went to Paris.", True),
        ("я видел Москву", True),
        # A sentence's first word, "I" and the speakers' names are not names of anything.
        ("Hey Caroline! Yes. Great idea. I think I'm fine", False),
        ("Wow! That sounds amazing", False),
        ("Yes, I\u2019ve seen it", False),
        ("i read a book", False),
    ],
)
def test_names_something(text: str, names: bool) -> None:
    assert names_something(text, frozenset({"caroline"})) is names
