"""Forgetting a fact: it goes, and the messages that said it are no longer recalled.

Deleting the fact alone would not do: "I live in Porto" would still be recalled when the
user asks where they live. So the user's messages that contain the fact's value are kept
out of recall too (``Store.hide_from_recall``; the context's window of recent turns and
its summaries skip them as well), and the sentences of session summaries that hold it are
dropped. The messages stay in the history (``/history``, export, search): forgetting is
about what memchat shows the model, and deleting messages is the job of ``/undo``,
``memchat sessions clear`` and ``memchat prune``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..store import Store
from ..store.base import Fact

# The most messages one fact's value is looked for in.
MAX_MENTIONS = 1000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Forgotten:
    """A fact forgotten, and how many messages that stated it recall now skips."""

    fact: Fact
    messages: int


def forget_fact(store: Store, user: str, key_or_id: str, *, project: str = "") -> Forgotten:
    """Delete the user's fact (by key in ``project``, "" for user-wide, or by id), keep its
    mentions out of recall and take the sentences that hold it out of the user's session
    summaries: of every session for a user-wide fact, of its project's for a project's."""
    fact = store.forget_fact(user, key_or_id, project=project)
    where = fact.project or None
    messages = hide_mentions(store, user, fact.value, project=where)
    scrub_summaries(store, user, fact.value, project=where)
    return Forgotten(fact, messages)


def hide_mentions(store: Store, user: str, value: str, *, project: str | None = None) -> int:
    """Keep the user's messages (of ``project``'s sessions only, if one is given) that
    contain ``value`` out of recall; return how many."""
    if not store.searchable:
        # An encrypted store without a search index recalls nothing: nothing to hide.
        # Any other failure is the caller's to report: the fact is already gone.
        return 0
    hits = store.search(user, value, limit=MAX_MENTIONS, project=project)
    wanted = value.casefold()
    # Messages on branches too: switching to a branch must not bring the fact back.
    messages = store.get_messages(user, [hit.item_id for hit in hits], branches=True)
    mentions = [m.item_id for m in messages if wanted in m.text.casefold()]
    if mentions:
        store.hide_from_recall(user, mentions)
    return len(mentions)


def scrub_summaries(store: Store, user: str, value: str, *, project: str | None = None) -> int:
    """Drop the sentences holding ``value`` from the user's summaries (of ``project``'s
    sessions only, if one is given); return how many summaries changed."""
    wanted = value.casefold()
    changed = 0
    for session in store.list_sessions(user, project=project):
        summary = store.get_summary(session)
        if summary is None or wanted not in summary.text.casefold():
            continue
        lines = []
        for line in summary.text.split("\n"):
            kept = [s for s in _SENTENCE_END.split(line) if wanted not in s.casefold()]
            if kept:
                lines.append(" ".join(kept))
        store.set_summary(session, summary.through_seq, "\n".join(lines))
        changed += 1
    return changed
