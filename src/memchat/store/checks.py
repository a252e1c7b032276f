"""What the store checks and normalizes, once, for every backend (see ``contract/``).

Names and ids, limits, and text that PostgreSQL cannot keep (NUL) are settled here, so
that the two backends cannot answer the same call differently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from ..errors import InvalidName, LastAdmin, MemchatError
from .branches import check_branches
from .records import FactRecord, SessionRecord

_NAME = re.compile(r"[\w.@+-]{1,64}")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid user name or session id, else raise InvalidName."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if len(str(name)) <= 80 else repr(str(name)[:80]) + "..."
        raise InvalidName(
            f"invalid {kind} {shown}: use 1-64 letters, digits or . _ @ + - (no spaces or slashes)"
        )
    return name


def check_project(project: str | None) -> str | None:
    """Return ``project`` if it is None (any), "" (none) or a valid name (``check_name``'s
    rules), else raise InvalidName."""
    if project is None or project == "":
        return project
    return check_name("project name", project)


def check_limit(limit: int | None) -> int | None:
    """Return ``limit`` if it is None or a whole number >= 0, else raise ValueError.

    SQLite reads a negative LIMIT as "no limit" and PostgreSQL refuses it: the store
    accepts neither, so that both backends answer the same.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or a whole number >= 0, got {limit!r}")
    return limit


def clean_text(text: str) -> str:
    """``text`` as every backend stores it: without NUL characters.

    PostgreSQL's text cannot hold NUL, so titles and facts drop it on every backend
    rather than differ (SQLite would keep it).
    """
    return text.replace("\x00", "")


def clean_records(
    records: Sequence[SessionRecord], facts: Sequence[FactRecord]
) -> tuple[list[SessionRecord], list[FactRecord]]:
    """Records to import, checked (``check_records``) and with their text cleaned."""
    check_records(records, facts)
    return (
        [replace(r, title=None if r.title is None else clean_text(r.title)) for r in records],
        [
            replace(
                f, key=clean_text(f.key), value=clean_text(f.value), source=clean_text(f.source)
            )
            for f in facts
        ],
    )


def check_records(records: Sequence[SessionRecord], facts: Sequence[FactRecord] = ()) -> None:
    """Raise InvalidName if any record to import names an unacceptable user or session,
    MemchatError if a summary covers turns its session does not have."""
    for record in records:
        check_name("user name", record.user)
        check_name("session id", record.id)
        check_project(record.project)
        every = check_branches(record)
        sizes = {turn.seq: len(turn.items) for turn in every}
        if any(not 0 <= index < sizes.get(seq, 0) for seq, index in record.hidden):
            raise MemchatError(f"session {record.user}/{record.id}: a hidden item it lacks")
        if record.summary is not None and not 1 <= record.summary.through_seq <= len(every):
            raise MemchatError(
                f"session {record.user}/{record.id}: its summary covers turns up to"
                f" {record.summary.through_seq}, but it has {len(every)}"
            )
    for fact in facts:
        check_name("user name", fact.user)
        check_project(fact.project)


def keep_an_admin(user: str, admins: Sequence[str]) -> None:
    """Raise LastAdmin if ``user`` is the only one of ``admins`` (every admin there is).

    Backends call it in the transaction that would delete the user or withdraw the role,
    having read (and on PostgreSQL locked) the admins, so two admins removed at once
    cannot both see the other still there.
    """
    if list(admins) == [user]:
        raise LastAdmin(
            f"{user!r} is the only admin: make another admin first"
            " (memchat users add NAME --admin), so that somebody can still manage users"
        )


def check_search(
    user: str, query: str, limit: int, session_id: str | None, highlight: tuple[str, str]
) -> tuple[str, str]:
    """Check ``Store.search``'s parameters and return the highlight as a pair.

    InvalidName for the user or session id, ValueError for the rest; a limit of 0 is
    allowed (it finds nothing), a limit of None is not.
    """
    _check_scope(user, limit, session_id)
    if not isinstance(query, str):
        raise ValueError(f"query must be a string, got {type(query).__name__}")
    if (
        not isinstance(highlight, (tuple, list))
        or len(highlight) != 2
        or not all(isinstance(mark, str) for mark in highlight)
    ):
        raise ValueError(f"highlight must be two strings, got {highlight!r}")
    return (highlight[0], highlight[1])


def check_match(
    user: str,
    words: Sequence[str],
    limit: int,
    session_id: str | None,
    context_weights: tuple[float, float],
) -> tuple[float, float]:
    """Check ``Store.match_messages``'s parameters and return the context weights.

    ``words`` is a list of words, not one string (whose letters would be searched for).
    """
    _check_scope(user, limit, session_id)
    if isinstance(words, (str, bytes)) or not all(isinstance(word, str) for word in words):
        raise ValueError(f"words must be a list of strings, got {words!r:.80}")
    weights = tuple(context_weights) if isinstance(context_weights, (tuple, list)) else ()
    if len(weights) != 2 or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w < math.inf
        for w in weights
    ):
        raise ValueError(f"context_weights must be two numbers >= 0, got {context_weights!r}")
    return (float(weights[0]), float(weights[1]))


def _check_scope(user: str, limit: int, session_id: str | None) -> None:
    check_name("user name", user)
    if session_id is not None:
        check_name("session id", session_id)
    if limit is None:
        raise ValueError("limit must be a whole number >= 0, got None")
    check_limit(limit)
