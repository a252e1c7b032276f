"""User facts: durable things users say about themselves, kept across sessions.

Extraction is rule-based and conservative: it keeps statements of the form "my name is
Sara", "Hi, I'm Sara", "my favourite colour is teal", "call me Sam", "I live in Lisbon",
"I moved to Lisbon", "I work as a nurse", "I'm a nurse in Porto", "I am 34 years old",
"I'm allergic to peanuts", "I have a dog named Rex", "I have two cats, Miso and Tofu",
"my sister Ana", "I play the cello", "I play tennis". A later statement with the same
key replaces the earlier one (kept as its history), and "forget my address" forgets one.
Users see and edit the result with ``memchat memory``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_VALUE_CHARS = 80

# Keys that follow "my ... is" without being facts about the user.
_NOT_FACTS = {
    "question",
    "point",
    "problem",
    "guess",
    "bad",
    "pleasure",
    "turn",
    "answer",
    "fault",
    "concern",
    "issue",
    "idea",
    "plan",
    "goal",
    "code",
    "output",
    "error",
}

_END = r"(?=[.!?,;\n]|$| and | but )"
# Names in a list: "Miso", "Miso and Tofu", "Rex, Max and Bella".
_NAME = r"[A-Z][\w'-]*"
_NAMES = _NAME + r"(?:, " + _NAME + r")*,? and " + _NAME
# "I'm a bit tired in Lisbon", "a tourist in Rome": not what the user does.
_NOT_ROLES = "(?:bit|little|lot|tad|big|huge|fan|guest|visitor|tourist|stranger|newcomer)"
_END_OF_LIST = r"(?=[.!?,;\n]|$| but )"
_RELATIVES = (
    "sister|brother|wife|husband|partner|son|daughter|mother|mom|mum|father|dad"
    "|boyfriend|girlfriend|fianc[ée]e?|best friend|cousin|aunt|uncle|niece|nephew"
    "|grandmother|grandma|grandfather|grandpa|boss|roommate|flatmate"
)
_AGES = "little|big|older|younger|elder|eldest|oldest|youngest|baby|twin"
_INSTRUMENTS = (
    "piano|guitar|bass guitar|bass|violin|viola|cello|double bass|drums|flute|clarinet"
    "|saxophone|sax|trumpet|trombone|tuba|harp|ukulele|banjo|mandolin|harmonica|accordion"
    "|oboe|bassoon|keyboard|organ|french horn|bagpipes"
)
_SPORTS = (
    "football|soccer|tennis|basketball|volleyball|baseball|golf|chess|rugby|cricket"
    "|hockey|badminton|squash|table tennis|ping pong|padel|poker|bridge"
)
_PATTERNS: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"\bcall me (?P<value>[\w' -]+?)" + _END, re.I), "name"),
    (re.compile(r"\bmy name's (?P<value>[\w' -]+?)" + _END, re.I), "name"),
    # "Hi, I'm Sara": only after a greeting and capitalized, since "I'm Spanish" or
    # "I'm Tired" alone would be taken for names.
    (
        re.compile(
            r"\b(?i:hi|hello|hey|hiya|greetings)\b[ ,!.-]*(?i:there[ ,!.-]*)?"
            r"I(?:'m|\u2019m| am) (?P<value>[A-Z][\w'-]*(?: [A-Z][\w'-]*)?)" + _END
        ),
        "name",
    ),
    (
        re.compile(
            r"\bI (?:now |currently )?live in (?P<value>[^.!?,;\n]+?)(?: now| these days)?" + _END,
            re.I,
        ),
        "home",
    ),
    # "I moved to Lisbon", "we've just moved to New York": a new home, named as a place.
    (
        re.compile(
            r"\b(?i:I|we)(?:'ve| have)? (?i:just |recently |finally )?(?i:moved|relocated) to "
            r"(?P<value>[A-Z][\w'-]*(?: [A-Z][\w'-]*)*)" + _END
        ),
        "home",
    ),
    (re.compile(r"\bI(?:'m| am) from (?P<value>[^.!?,;\n]+?)" + _END, re.I), "from"),
    (re.compile(r"\bI work (?:as|at) (?P<value>[^.!?,;\n]+?)" + _END, re.I), "work"),
    (re.compile(r"\bI(?:'m| am) (?P<value>\d{1,3}) years? old\b", re.I), "age"),
    (re.compile(r"\bI(?:'m| am) allergic to (?P<value>[^.!?,;\n]+?)" + _END, re.I), "allergy"),
    (re.compile(r"\bI was born (?:in|on) (?P<value>[^.!?,;\n]+?)" + _END, re.I), "born"),
    # "I have a dog named Rex", "we have a cat called Miso": the pet's kind is the key.
    (
        re.compile(
            r"\b(?i:I|we) (?i:have|got) (?i:an?) (?P<key>[a-z]+) (?i:named|called) "
            r"(?P<value>[A-Z][\w'-]*(?: [A-Z][\w'-]*)?)" + _END
        ),
        None,
    ),
    # "I have a dog, Rex": the name right after a comma, alone before the sentence goes on.
    (
        re.compile(
            r"\b(?i:I|we) (?i:have|got) (?i:an?) (?P<key>[a-z]+), "
            r"(?P<value>(?!I\b)" + _NAME + r")(?=[.!?;\n]|$|,)"
        ),
        None,
    ),
    # "I have two cats called Miso and Tofu", "... two cats, Miso and Pixel": the kind
    # (plural) is the key, all names kept.
    (
        re.compile(
            r"\b(?i:I|we) (?i:have|got) (?i:two|three|four|five|[2-9]) (?P<key>[a-z]+s)"
            r"(?: (?i:named|called) |, |: )(?P<value>" + _NAMES + r")" + _END_OF_LIST
        ),
        None,
    ),
    # "My sister Ana visits me", "my older brother Tom": the relative's name.
    (
        re.compile(
            r"\b(?i:my) (?P<key>(?:(?i:" + _AGES + r") )?(?i:" + _RELATIVES + r")) "
            r"(?P<value>(?!I\b)" + _NAME + r"(?: (?!I\b)" + _NAME + r")?)(?!\w)"
        ),
        None,
    ),
    # "I play the cello on weekends", "I play tennis and chess".
    (
        re.compile(
            r"\bI (?:also |still |often |sometimes )?play (?:the )?"
            r"(?P<value>(?:" + _INSTRUMENTS + r")(?: and (?:the )?(?:" + _INSTRUMENTS + r"))?)\b",
            re.I,
        ),
        "instrument",
    ),
    (
        re.compile(
            r"\bI (?:also |still |often |sometimes )?play "
            r"(?P<value>(?:" + _SPORTS + r")(?: and (?:" + _SPORTS + r"))?)\b",
            re.I,
        ),
        "sport",
    ),
    # "I'm a nurse in Porto", "I am a teacher at Riverside School": a role, then where, as
    # a capitalized name. Without the place, "I'm a bit tired" would be taken for a job.
    (
        re.compile(
            r"\bI(?:'m|\u2019m| am) (?i:an?) (?!" + _NOT_ROLES + r"\b)"
            r"(?P<value>[a-z]+(?: [a-z]+)? (?:in|at) [A-Z][\w'-]*(?: [A-Z][\w'-]*)*)" + _END
        ),
        "work",
    ),
    (
        re.compile(
            r"\bmy (?P<key>(?:[a-z]+ ){0,2}[a-z]+?)(?:'s name)? (?:is called|is|are|=) "
            r"(?P<value>[^.!?,;\n]+?)" + _END,
            re.I,
        ),
        None,
    ),
]


@dataclass(frozen=True)
class MemoryChanges:
    """What one turn changed in a user's facts, to show them."""

    remembered: tuple[tuple[str, str], ...] = ()
    forgotten: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.remembered or self.forgotten)

    def __add__(self, other: MemoryChanges) -> MemoryChanges:
        """Both changes, each fact once (the later value of a key wins)."""
        remembered = dict(self.remembered) | dict(other.remembered)
        forgotten = dict.fromkeys(self.forgotten + other.forgotten)
        return MemoryChanges(tuple(remembered.items()), tuple(forgotten))

    def __str__(self) -> str:
        said = [f"remembered {key}: {value}" for key, value in self.remembered]
        return "; ".join(said + [f"forgot {key}" for key in self.forgotten])


def normalize_key(key: str) -> str:
    """A canonical fact key: lower case, single spaces, British "favourite" and "colour"."""
    key = " ".join(key.lower().split())
    key = re.sub(r"\bfavou?rite\b", "favourite", key)
    return re.sub(r"\bcolou?r\b", "colour", key)


def extract_facts(text: str) -> Iterator[tuple[str, str]]:
    """(key, value) pairs the user states about themselves in ``text``."""
    for pattern, fixed_key in _PATTERNS:
        for match in pattern.finditer(text):
            said = fixed_key or match.group("key")
            key = normalize_key(said)
            value = " ".join(match.group("value").split()).strip(" '\"")
            value = value.replace(" and the ", " and ")
            if not value or len(value) > MAX_VALUE_CHARS or key.split()[-1] in _NOT_FACTS:
                continue
            if _names_someone(said):
                continue
            yield key, value


def _names_someone(key: str) -> bool:
    """Whether a key as said holds a name or "I" ("my sister Ana is", "my mom I think is"):
    not a key but the start of another sentence's subject."""
    words = key.split()
    return any(word == "I" or word[:1].isupper() for word in words[1:])


# "Forget my address", "please forget what my favourite colour is", "forget where I live".
_FORGET_MY = re.compile(
    r"\bforget (?:about )?(?:what |that )?my (?P<key>(?:[a-z]+ ){0,2}[a-z]+?)(?:'s name)?"
    r"(?: is| was)?" + _END,
    re.I,
)
_FORGET_PHRASES = [
    (re.compile(r"\bforget (?:about )?where I live\b", re.I), "home"),
    (re.compile(r"\bforget (?:about )?where I(?:'m| am) from\b", re.I), "from"),
    (re.compile(r"\bforget (?:about )?how old I am\b", re.I), "age"),
    (re.compile(r"\bforget (?:about )?where I work\b", re.I), "work"),
]


def forget_requests(text: str) -> Iterator[str]:
    """The keys of the facts ``text`` asks to forget ("forget my address": "address")."""
    for match in _FORGET_MY.finditer(text):
        yield normalize_key(match.group("key"))
    for pattern, key in _FORGET_PHRASES:
        if pattern.search(text):
            yield key
