"""Each way to forget, with a receipt (see ``receipt.py``): a fact, a session, a user, or
everything older than an age.

Each function gathers the text it is about to delete through the store (so an encrypted
store's is read decrypted), deletes it, and returns the receipt of the scan that follows.
The CLI's ``--verify`` calls them; so can the HTTP API or a test.
"""

from __future__ import annotations

from collections.abc import Iterator

from .memory.forget import Forgotten, forget_fact
from .receipt import Receipt, forget_with_receipt, item_strings
from .store import SessionInfo, Store
from .store.records import PruneReport


def forget_fact_verified(
    store: Store, user: str, key_or_id: str, *, project: str = ""
) -> tuple[Forgotten, Receipt]:
    """Forget a fact (``memory.forget.forget_fact``: by key in ``project``, or by id) and
    scan for its value.

    The messages that stated it stay in the history (kept out of recall): a copy found
    there is reported where it is, and deleting that session forgets it.
    """
    done: list[Forgotten] = []
    # Its earlier values go with it (``fact_history``): looked for too.
    facts = store.list_facts(user)
    found = next((f for f in facts if (f.project, f.key) == (project, key_or_id)), None)
    found = found or next((f for f in facts if str(f.id) == key_or_id), None)
    where = project if found is None else found.project
    key = key_or_id if found is None else found.key
    earlier = [version.value for version in store.fact_history(user, key, project=where)]

    def delete() -> list[str]:
        done.append(forget_fact(store, user, key_or_id, project=project))
        return [done[0].fact.value, *earlier]

    receipt = forget_with_receipt(store, f"the fact {key_or_id!r} of {user}", delete)
    return done[0], receipt


def delete_session_verified(store: Store, user: str, session_id: str) -> Receipt:
    """Delete a session (its messages, title and summary) and scan for them."""

    def delete() -> list[str]:
        texts = list(_session_texts(store, store.get_session(user, session_id)))
        store.delete_session(user, session_id)
        return texts

    return forget_with_receipt(store, f"the session {session_id} of {user}", delete)


def delete_user_verified(store: Store, user: str, *, vacuum: bool = False) -> Receipt:
    """Delete a user and everything of theirs (then vacuum, if asked) and scan for it."""

    def delete() -> list[str]:
        store.get_user(user)
        texts = [user, *_fact_texts(store, user)]
        for session in store.list_sessions(user):
            texts += _session_texts(store, session)
        store.delete_user(user)
        if vacuum:
            store.vacuum()
        return texts

    return forget_with_receipt(store, f"the user {user}", delete)


def prune_verified(
    store: Store,
    older_than: str,
    *,
    user: str | None = None,
    facts: bool = False,
    vacuum: bool = False,
) -> tuple[PruneReport, Receipt]:
    """Prune turns older than ``older_than`` (``Store.prune``) and scan for what went: the
    old turns, the summaries of their sessions, the titles of sessions left empty, and the
    old facts with ``facts``."""
    reports: list[PruneReport] = []

    def delete() -> list[str]:
        texts: list[str] = []
        users = [user] if user is not None else [u.name for u in store.list_users()]
        for name in users:
            for session in store.list_sessions(name):
                texts += _pruned_texts(store, session, older_than)
            if facts:
                texts += [
                    f"{f.key} {f.value}"
                    for f in store.list_facts(name)
                    if f.updated_at < older_than
                ]
        reports.append(store.prune(older_than, user=user, facts=facts))
        if vacuum:
            store.vacuum()
        return texts

    who = user or "every user"
    receipt = forget_with_receipt(store, f"what {who} said before {older_than[:19]}", delete)
    return reports[0], receipt


def _session_texts(store: Store, session: SessionInfo) -> Iterator[str]:
    if session.title:
        yield session.title
    summary = store.get_summary(session)
    if summary is not None:
        yield summary.text
    for turn in store.get_turns(session):
        for item in turn.items:
            yield from item_strings(item)


def _pruned_texts(store: Store, session: SessionInfo, older_than: str) -> Iterator[str]:
    turns = store.get_turns(session)
    old = [turn for turn in turns if turn.created_at < older_than]
    if not old and (turns or session.updated_at >= older_than):
        return
    summary = store.get_summary(session)
    if summary is not None:
        yield summary.text
    if len(old) == len(turns) and session.title:
        # The session is left empty, and goes with its title.
        yield session.title
    for turn in old:
        for item in turn.items:
            yield from item_strings(item)


def _fact_texts(store: Store, user: str) -> list[str]:
    return [f"{fact.key} {fact.value}" for fact in store.list_facts(user)]
