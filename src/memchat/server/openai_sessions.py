"""Which of the user's sessions an OpenAI-style request continues.

OpenAI clients send the whole conversation every time. memchat stores only the new turn,
so it has to find the session that conversation lives in:

1. A client-given id (the ``X-Memchat-Session`` header, else ``metadata.session_id``)
   names the session outright; it is created if the user has none of that id. The
   client's history is then not consulted: memchat's own record of the session is what
   the model sees.
2. Otherwise the conversation's own opening names it: ``v1-`` and a hash of the client's
   system messages and its first user message. The session is continued only if what it
   has stored is exactly what the client sends as history; a client that edited or
   regenerated an earlier message gets a branch (``v1-<hash>-2``, ``-3``, ...) that starts
   with the stored turns the two still share. A stored session is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ..errors import SessionExists, TurnError
from ..store import MemchatSession, SessionInfo, Store, Turn
from ..store.base import check_name
from .openai_schemas import ChatMessage

SESSION_HEADER = "X-Memchat-Session"
# Branches of one conversation tried before giving up (a client editing one conversation
# this often is unusual; the limit keeps a request's work bounded).
MAX_BRANCHES = 50

Exchange = tuple[str, str]


def _norm(text: str) -> str:
    # Clients trim or re-wrap what they show; compare words, not whitespace.
    return " ".join(text.split())


def _item_text(item: Any) -> str:
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and "text" in part
        )
    return ""


def stored_history(turns: Sequence[Turn]) -> list[list[Exchange]]:
    """Each turn's messages as (role, text): the user's words and the reply's text."""
    out = []
    for turn in turns:
        user = "".join(_item_text(i) for i in turn.items if i.get("role") == "user")
        reply = "".join(_item_text(i) for i in turn.items if i.get("role") == "assistant")
        out.append([("user", _norm(user)), ("assistant", _norm(reply))])
    return out


def client_history(messages: Sequence[ChatMessage]) -> list[Exchange]:
    """The user and assistant messages the client sends before its new one."""
    return [
        (m.role, _norm(m.text))
        for m in messages[:-1]
        if m.role in ("user", "assistant") and m.text.strip()
    ]


def conversation_key(messages: Sequence[ChatMessage]) -> str:
    """``v1-`` and a hash of the system messages and the first user message."""
    system = [m.text for m in messages if m.role in ("system", "developer")]
    first_user = next((m.text for m in messages if m.role == "user"), "")
    digest = hashlib.sha256(json.dumps([system, first_user]).encode()).hexdigest()
    return f"v1-{digest[:20]}"


def _shared_turns(stored: list[list[Exchange]], history: list[Exchange]) -> int:
    """How many stored turns, from the first, the client's history starts with."""
    flat: list[Exchange] = []
    shared = 0
    for turn in stored:
        flat.extend(turn)
        if history[: len(flat)] != flat:
            break
        shared += 1
    return shared


def explicit_session_id(header: str | None, metadata: dict[str, str] | None) -> str | None:
    """The client-given session id, checked, or None if the client gives none."""
    given = header if header else (metadata or {}).get("session_id")
    return check_name("session id", given) if given else None


def choose_session(
    store: Store, user: str, messages: Sequence[ChatMessage], explicit: str | None
) -> SessionInfo:
    """The session this request's new turn goes to (created, or branched, as needed)."""
    if explicit is not None:
        return store.ensure_session(user, explicit)
    base = conversation_key(messages)
    history = client_history(messages)
    for _attempt in range(3):
        best: tuple[int, SessionInfo | None, list[Turn]] = (0, None, [])
        free: str | None = None
        for n in range(1, MAX_BRANCHES + 1):
            session_id = base if n == 1 else f"{base}-{n}"
            info = store.find_session(user, session_id)
            if info is None:
                free = session_id
                break
            turns = store.get_turns(info)
            stored = stored_history(turns)
            if [e for turn in stored for e in turn] == history:
                return info
            shared = _shared_turns(stored, history)
            if shared > best[0]:
                best = (shared, info, turns)
        if free is None:
            # Every branch is taken: the last one is continued rather than refused.
            return store.ensure_session(user, f"{base}-{MAX_BRANCHES}")
        try:
            info = store.create_session(user, free, title=_title(messages))
        except SessionExists:
            continue  # another request of this conversation took the id: look again
        shared, _, turns = best
        for turn in turns[:shared]:
            store.commit_turn(info, turn.items)
        return store.find_session(user, free) or info
    return store.ensure_session(user, base)


def _title(messages: Sequence[ChatMessage]) -> str | None:
    first_user = next((m.text for m in messages if m.role == "user"), "")
    words = first_user.split()
    if not words:
        return None
    title = " ".join(words)
    return title if len(title) <= 60 else title[:59] + "…"


class ContinuedSession(MemchatSession):
    """A session chosen because its stored turns were the client's history: its turn is
    refused if another turn was stored in the meantime (two copies of one request, say),
    checked under the session's lock, so the new turn never follows a reply the client
    has not seen."""

    def __init__(self, store: Store, info: SessionInfo) -> None:
        super().__init__(store, info)
        self.expected_turns = info.turn_count

    @asynccontextmanager
    async def turn(
        self, *, replace_last: bool = False, edit_seq: int | None = None
    ) -> AsyncIterator[Any]:
        async with super().turn(replace_last=replace_last, edit_seq=edit_seq) as turn:
            now = self.store.find_session(self.info.user, self.info.id)
            if now is None or now.turn_count != self.expected_turns:
                raise TurnError("the conversation changed while this request waited; send it again")
            yield turn
