"""Recall: the messages of a user's history most relevant to a new message.

One full-text query and a little arithmetic, no model:

1. Dates in the message ("on 3 June, 2023", "in July") are taken out, and so are
   stopwords; each remaining word is a quoted term, any of which may match.
2. The store ranks messages by bm25 over their own text and, with lower weights, the two
   messages said just before them (``Store.match_messages``): an answer is found by the
   words of the question it answers.
3. A message also gets a share of the score of the two messages after it, so a question
   is found by the words of its answer.
4. Scores are raised for messages by a speaker the message names (``speakers``) and for
   messages said on or near a date it names.

Each passage is one message (cut to ``MAX_PASSAGE_CHARS``), so k passages are k messages.
The weights were tuned on the LoCoMo development split (bench/locomo_recall.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from ..store import Store
from ..store.base import IndexedMessage, query_words

# bm25 weights of the previous message and the one before it (the message itself: 1).
CONTEXT_WEIGHTS = (0.5, 0.3)
# Shares of a match's score passed to the message before it and the one before that.
NEXT_SHARES = (0.5, 0.25)
# A message by the speaker the query names scores this much more (1.0: doubled).
SPEAKER_BOOST = 1.0
# A message said on a date the query names scores up to this much more...
DATE_BOOST = 4.0
# ...falling off by a factor e for every this many days away from it.
DATE_SCALE_DAYS = 10.0
# Matches ranked before the boosts; bounds a query's cost in a long history.
CANDIDATES = 300
MAX_PASSAGE_CHARS = 1000

# Common English function words: they match nearly every message and say little.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Passage:
    """A message recalled from the user's history."""

    text: str
    role: str
    # When it was said: its turn's created_at (ISO 8601).
    date: str
    session_id: str
    item_id: int
    score: float


def recall(
    store: Store,
    user: str,
    query: str,
    *,
    k: int,
    exclude_item_ids: set[int] | None = None,
    session_id: str | None = None,
    speakers: Mapping[str, str] | None = None,
) -> list[Passage]:
    """The ``k`` messages of the user's history (or of one session) most relevant to ``query``.

    ``exclude_item_ids`` are never returned (say, the messages already in the context).
    ``speakers`` maps names to roles (``{"Sara": "user", "memchat": "assistant"}``): a
    query that names one speaker favours that role's messages. Best first; [] when the
    query has no words worth searching for.
    """
    if k <= 0:
        return []
    text, dates = _take_dates(query)
    words = [word for word in query_words(text) if word not in STOPWORDS]
    if not words:
        return []
    matches = store.match_messages(
        user, words, limit=CANDIDATES, session_id=session_id, context_weights=CONTEXT_WEIGHTS
    )
    scores: dict[int, float] = {}
    for match in matches:
        scores[match.item_id] = scores.get(match.item_id, 0.0) + match.score
        for share, earlier in zip(NEXT_SHARES, match.previous, strict=False):
            scores[earlier] = scores.get(earlier, 0.0) + share * match.score
    for item_id in exclude_item_ids or ():
        scores.pop(item_id, None)
    known = {match.item_id: match for match in matches}
    missing = [item_id for item_id in scores if item_id not in known]
    known.update((m.item_id, m) for m in store.get_messages(user, missing))
    role = _named_role(query_words(text), speakers or {})
    ranked: list[tuple[float, IndexedMessage]] = []
    for item_id, score in scores.items():
        message = known.get(item_id)
        if message is None or (session_id is not None and message.session_id != session_id):
            continue
        if role is not None and message.role == role:
            score *= 1 + SPEAKER_BOOST
        if dates:
            score *= 1 + DATE_BOOST * _date_match(dates, message.created_at)
        ranked.append((score, message))
    ranked.sort(key=lambda pair: (pair[0], pair[1].item_id), reverse=True)
    return [
        Passage(_excerpt(m.text, words), m.role, m.created_at, m.session_id, m.item_id, score)
        for score, m in ranked[:k]
    ]


def _named_role(words: list[str], speakers: Mapping[str, str]) -> str | None:
    """The role of the speakers whose every name word is in ``words``, if just one role is."""
    present = set(words)
    named = {
        role
        for name, role in speakers.items()
        if (parts := set(query_words(name))) and parts <= present
    }
    return named.pop() if len(named) == 1 else None


def _excerpt(text: str, words: list[str]) -> str:
    """``text``, or if it is too long, the part around the first query word in it."""
    if len(text) <= MAX_PASSAGE_CHARS:
        return text
    lowered = text.lower()
    hits = [pos for word in words if (pos := lowered.find(word)) >= 0]
    start = max(0, min(hits, default=0) - MAX_PASSAGE_CHARS // 4)
    end = start + MAX_PASSAGE_CHARS - 2
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")


# -- dates named in a query ------------------------------------------------------------

_MONTH_NAMES = (
    "january february march april may june july august september october november december"
)
_MONTHS = {
    name: number
    for number, month in enumerate(_MONTH_NAMES.split(), 1)
    for name in (month, month[:3])
}
_MONTHS["sept"] = 9
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
# Most specific first; each match is blanked out before the next pattern looks.
_DATE_PATTERNS = (
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b"), "dmy"),
    (re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(\d{{4}})\b"), "mdy"),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "ynd"),
    (re.compile(rf"\b{_MONTH},?\s+(\d{{4}})\b"), "my"),
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}"), "dm"),
    (re.compile(rf"\b{_MONTH}\s+{_DAY}\b"), "md"),
    # A bare month name only after a preposition: "may" alone is usually a verb.
    (re.compile(rf"\b(?:in|during|since|before|after|early|late|mid|last|this)\s+{_MONTH}\b"), "m"),
    (re.compile(r"\b((?:19|20)\d{2})\b"), "y"),
)

DateRef = tuple[int | None, int | None, int | None]
"""A date a query names: (year, month, day), None where it does not say."""


def _take_dates(query: str) -> tuple[str, list[DateRef]]:
    """The query with the dates it names blanked out, and those dates."""
    text = query.lower()
    found: list[DateRef] = []
    for pattern, fields in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            parts = dict(zip(fields, match.groups(), strict=True))
            month = _MONTHS.get(parts["m"]) if "m" in parts else None
            month = int(parts["n"]) if "n" in parts else month
            day = int(parts["d"]) if "d" in parts else None
            year = int(parts["y"]) if "y" in parts else None
            if not 1 <= (day or 1) <= 31 or not 1 <= (month or 1) <= 12:
                continue
            found.append((year, month, day))
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text, found


def _date_match(dates: list[DateRef], created_at: str) -> float:
    """How well a message's date fits the best of ``dates``: 1.0 on it, less further away."""
    try:
        said = date.fromisoformat(created_at[:10])
    except ValueError:
        return 0.0
    return max(_fit(ref, said) for ref in dates)


def _fit(ref: DateRef, said: date) -> float:
    year, month, day = ref
    if year and month and day:
        try:
            days = abs((said - date(year, month, day)).days)
        except ValueError:
            return 0.0
        return math.exp(-days / DATE_SCALE_DAYS)
    if year and month:
        months = abs((said.year - year) * 12 + said.month - month)
        return 1.0 if months == 0 else 0.3 if months == 1 else 0.0
    if month and day:
        return (
            1.0 if (said.month, said.day) == (month, day) else 0.5 if said.month == month else 0.0
        )
    if month:
        return 1.0 if said.month == month else 0.0
    return 0.3 if said.year == year else 0.0
