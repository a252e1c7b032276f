"""Recall: the messages of a user's history most relevant to a new message.

Two full-text queries and a little arithmetic, no model:

1. Dates in the message ("on 3 June, 2023", "in July") are taken out (``dates.py``), and
   so are stopwords; each remaining word is a quoted term, any of which may match.
2. The store ranks messages by bm25 over their own text and, with lower weights, the two
   messages said just before them (``Store.match_messages``): an answer is found by the
   words of the question it answers.
3. A message also gets a share of the score of the two messages after it, so a question
   is found by the words of its answer.
4. Scores are raised for messages by a speaker the message names (``speakers``), for
   messages said on or near a date it names, for messages that name something when it
   asks for a name ("Which city...", "What books...": ``answers.py``), and a little for
   longer messages (which carry more to remember); messages that ask a question score a
   little less.
5. Pseudo-relevance feedback: the words that stand out in the best messages of that first
   ranking (frequent there, rare among all the messages it looked at) are added to the
   query, and the final score mixes both queries'. "What pets does Nate have?" first
   finds "my turtles" and then, through "turtles", the messages about them that never
   say "pet".

Each passage is one message (cut to ``MAX_PASSAGE_CHARS``), so k passages are k messages.
Every weight below was tuned on the LoCoMo development split (bench/locomo_recall.py).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..store import Store
from ..store.base import IndexedMessage, query_words
from .answers import asks_for_name, names_something
from .dates import DateRef, date_fit, take_dates

# bm25 weights of the previous message and the one before it (the message itself: 1).
CONTEXT_WEIGHTS = (0.5, 0.3)
# Shares of a match's score passed to the message before it and the one before that.
NEXT_SHARES = (0.5, 0.25)
# A message by the speaker the query names scores this much more (1.0: doubled).
SPEAKER_BOOST = 1.0
# A message said on a date the query names scores up to this much more.
DATE_BOOST = 4.0
# A message that names something scores this much more when the query asks for a name.
NAMING_BOOST = 1.0
# Scores grow with (characters / 100) ** LENGTH_EXPONENT, counted up to MAX_PASSAGE_CHARS.
LENGTH_EXPONENT = 0.1
# A message ending in "?" scores this share: questions are less often what is asked about.
QUESTION_FACTOR = 0.8
# Feedback: this many words, from this many of the best first-pass messages...
FEEDBACK_WORDS = 10
FEEDBACK_MESSAGES = 10
# ...each held by at most this share of the messages the first pass looked at...
FEEDBACK_MAX_SHARE = 0.1
# ...and the second query's share of the final score.
FEEDBACK_WEIGHT = 0.5
# Matches ranked before the boosts; bounds a query's cost in a long history.
CANDIDATES = 300
MAX_PASSAGE_CHARS = 1000
# Feedback keeps the words of this many messages of up to this many characters (at most
# about 25 MB) for the next recalls.
CACHED_MESSAGES = 4096
MAX_CACHED_CHARS = 2000

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
    # Its turn's number in the session.
    seq: int
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
    project: str | None = None,
) -> list[Passage]:
    """The ``k`` messages of the user's history (or of one session) most relevant to
    ``query``: with ``project``, of that project's sessions only; without, of every
    session but those of projects whose memory is scoped (their memory is their own).

    ``exclude_item_ids`` are never returned (say, the messages that stated a forgotten
    fact, which ``memory.context`` leaves out: ``Store.hidden_from_recall``).
    ``speakers`` maps names to roles (``{"Sara": "user", "memchat": "assistant"}``): a
    query that names one speaker favours that role's messages. Best first; [] when the
    query has no words worth searching for.
    """
    if k <= 0:
        return []
    text, dates = take_dates(query)
    said = query_words(text)
    words = [word for word in said if word not in STOPWORDS]
    if not words:
        return []
    search = _Search(store, user, session_id, exclude_item_ids or set(), project)
    names = frozenset(word for name in speakers or {} for word in query_words(name))
    prior = _Prior(_named_role(said, speakers or {}), dates, asks_for_name(query), names)
    first = search.scores(words)
    ranked = search.rank(first, prior)
    feedback = _feedback_words(ranked[:FEEDBACK_MESSAGES], search.seen, known=set(said) | names)
    if feedback:
        # bm25 adds up over terms, so the query of words and feedback words together
        # scores each message as the two queries' sum; only the feedback words are new.
        # They are a guess, so one too common to search for cheaply is dropped outright.
        extra = search.scores(feedback, keep_rarest=False)
        second = {i: first.get(i, 0.0) + extra.get(i, 0.0) for i in first.keys() | extra.keys()}
        ranked = search.rank(_mix(first, second, FEEDBACK_WEIGHT), prior)
    return [
        Passage(excerpt(m.text, words), m.role, m.created_at, m.session_id, m.seq, m.item_id, score)
        for score, m in ranked[:k]
    ]


@dataclass(frozen=True)
class _Prior:
    """What the query says beyond its words: a speaker's role, dates, that it asks for a name."""

    role: str | None
    dates: list[DateRef]
    wants_name: bool
    # Words that name no answer: the speakers' names.
    speaker_words: frozenset[str]
    # Whether each message weighed so far names something (a recall ranks twice).
    _names: dict[int, bool] = field(default_factory=dict)

    def weigh(self, score: float, message: IndexedMessage) -> float:
        if self.role is not None and message.role == self.role:
            score *= 1 + SPEAKER_BOOST
        if self.dates:
            score *= 1 + DATE_BOOST * date_fit(self.dates, message.created_at)
        if self.wants_name and self._names_something(message):
            score *= 1 + NAMING_BOOST
        score *= (min(len(message.text), MAX_PASSAGE_CHARS) / 100) ** LENGTH_EXPONENT
        if message.text.endswith("?"):
            score *= QUESTION_FACTOR
        return score

    def _names_something(self, message: IndexedMessage) -> bool:
        known = self._names.get(message.item_id)
        if known is None:
            known = self._names[message.item_id] = names_something(message.text, self.speaker_words)
        return known


class _Search:
    """One recall's queries, and every message they have looked at."""

    def __init__(
        self,
        store: Store,
        user: str,
        session_id: str | None,
        exclude: set[int],
        project: str | None = None,
    ):
        self.store = store
        self.user = user
        self.session_id = session_id
        self.exclude = exclude
        self.project = project
        self.seen: dict[int, IndexedMessage] = {}

    def scores(self, words: list[str], *, keep_rarest: bool = True) -> dict[int, float]:
        """Each message's score for ``words``: its own match and shares of the next two's."""
        matches = self.store.match_messages(
            self.user,
            words,
            limit=CANDIDATES,
            session_id=self.session_id,
            context_weights=CONTEXT_WEIGHTS,
            keep_rarest=keep_rarest,
            project=self.project,
            shared_only=self.project is None,
        )
        scores: dict[int, float] = {}
        for match in matches:
            self.seen[match.item_id] = match
            scores[match.item_id] = scores.get(match.item_id, 0.0) + match.score
            for share, earlier in zip(NEXT_SHARES, match.previous, strict=False):
                scores[earlier] = scores.get(earlier, 0.0) + share * match.score
        missing = [item_id for item_id in scores if item_id not in self.seen]
        self.seen.update((m.item_id, m) for m in self.store.get_messages(self.user, missing))
        return scores

    def rank(self, scores: dict[int, float], prior: _Prior) -> list[tuple[float, IndexedMessage]]:
        """The scored messages with the prior applied, best first."""
        ranked = []
        for item_id, score in scores.items():
            message = self.seen.get(item_id)
            if message is None or item_id in self.exclude:
                continue
            if self.session_id is not None and message.session_id != self.session_id:
                continue
            ranked.append((prior.weigh(score, message), message))
        ranked.sort(key=lambda pair: (pair[0], pair[1].item_id), reverse=True)
        return ranked


def _feedback_words(
    best: list[tuple[float, IndexedMessage]],
    seen: Mapping[int, IndexedMessage],
    *,
    known: set[str],
) -> list[str]:
    """Words of the ``best`` (scored) messages that are rare among all ``seen``, best first.

    Rarity is judged among the messages the first query looked at (``best`` among them),
    not the whole history, so this needs nothing of the store beyond the messages.
    """
    if not best:
        return []
    words_of = {item_id: _message_words(m.text) for item_id, m in seen.items()}
    held_by: Counter[str] = Counter(word for words in words_of.values() for word in words)
    total = len(words_of)
    top = best[0][0] or 1.0
    weight: dict[str, float] = {}
    for score, message in best:
        for word in words_of[message.item_id]:
            count = held_by[word]
            if (
                word in known
                or word in STOPWORDS
                or len(word) < 3
                or word.isdigit()
                or not 0 < count <= FEEDBACK_MAX_SHARE * total
            ):
                continue
            weight[word] = weight.get(word, 0.0) + score / top * math.log(total / count)
    # Ties broken by the word, so that the same history always gives the same words.
    return sorted(weight, key=lambda word: (-weight[word], word))[:FEEDBACK_WORDS]


def _message_words(text: str) -> frozenset[str]:
    """The words of a message; a short one's are kept for the next recalls, which see many of
    the same messages (this was a fifth of a recall's time in a long chat)."""
    if len(text) > MAX_CACHED_CHARS:
        return frozenset(query_words(text))
    return _short_message_words(text)


@functools.lru_cache(maxsize=CACHED_MESSAGES)
def _short_message_words(text: str) -> frozenset[str]:
    return frozenset(query_words(text))


def _mix(first: dict[int, float], second: dict[int, float], share: float) -> dict[int, float]:
    """Both queries' scores, each scaled to a best of 1, ``share`` of the second."""
    top1 = max(first.values(), default=0.0) or 1.0
    top2 = max(second.values(), default=0.0) or 1.0
    return {
        item_id: (1 - share) * first.get(item_id, 0.0) / top1
        + share * second.get(item_id, 0.0) / top2
        for item_id in first.keys() | second.keys()
    }


def _named_role(words: list[str], speakers: Mapping[str, str]) -> str | None:
    """The role of the speakers whose every name word is in ``words``, if just one role is."""
    present = set(words)
    named = {
        role
        for name, role in speakers.items()
        if (parts := set(query_words(name))) and parts <= present
    }
    return named.pop() if len(named) == 1 else None


def excerpt(text: str, words: list[str]) -> str:
    """``text``, or if it is too long, the part around the first query word in it."""
    if len(text) <= MAX_PASSAGE_CHARS:
        return text
    lowered = text.lower()
    hits = [pos for word in words if (pos := lowered.find(word)) >= 0]
    start = max(0, min(hits, default=0) - MAX_PASSAGE_CHARS // 4)
    end = start + MAX_PASSAGE_CHARS - 2
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")
