"""The JSON shapes of the HTTP API: what requests carry and what responses return.

These models are the OpenAPI spec: FastAPI derives ``/openapi.json`` from them, and the
fuzz test checks every response against it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..store.base import SearchHit, SessionInfo, Turn, User
from ..store.records import MAX_SEQ
from ..store.snippets import bracketed, snippet_parts
from ..store.titles import item_text


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates ("\ud800"), which no database can store as text.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the text is not valid Unicode (it has a lone surrogate)") from None
    return text


# Request strings: valid Unicode, within bounds. Names made through the API are ASCII
# (the store also takes other letters, but a spec's regex cannot say "letter" portably).
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@+-]{1,64}$")]
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_encodable)]
FactKey = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_encodable)]
FactValue = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_encodable)]
# A message's length limit is a setting (MEMCHAT_MAX_INPUT_CHARS), checked by the chat.
MessageText = Annotated[str, Field(min_length=1), AfterValidator(_encodable)]
# Any valid Unicode text (a reply to render, say), bounded by the request body's limit.
AnyText = Annotated[str, AfterValidator(_encodable)]


SessionId = Annotated[str, Path(description="One of the caller's sessions.", examples=["default"])]


class Strict(BaseModel):
    """A request body: unknown fields and wrong types are errors, not silently coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- errors ------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """What went wrong, for programs (code) and people (message)."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["you have no session 'x'"])


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorDetail


# -- users -------------------------------------------------------------------------------


class UserOut(BaseModel):
    """A user as the API shows it."""

    name: str
    created_at: str
    admin: bool

    @classmethod
    def of(cls, user: User, admin: bool) -> UserOut:
        return cls(name=user.name, created_at=user.created_at, admin=admin)


class UserCreate(Strict):
    """A new user (admins only)."""

    name: Name
    admin: bool = False


class TokenOut(BaseModel):
    """A new API token: shown once, never stored in the clear."""

    user: str
    token: str


class NewUserOut(UserOut):
    """A created user and their first token."""

    token: str


class RevokedOut(BaseModel):
    """How many tokens were revoked."""

    revoked: int


# -- sessions ----------------------------------------------------------------------------


class SessionOut(BaseModel):
    """One conversation of the caller."""

    id: str
    title: str | None
    created_at: str
    updated_at: str
    turn_count: int
    metadata: dict[str, Any]
    project: str = Field(description='Its project ("": none).')
    scoped: bool = Field(description="Whether its project's memory is scoped to it.")

    @classmethod
    def of(cls, info: SessionInfo) -> SessionOut:
        return cls(
            id=info.id,
            title=info.title,
            created_at=info.created_at,
            updated_at=info.updated_at,
            turn_count=info.turn_count,
            metadata=info.metadata,
            project=info.project,
            scoped=info.scoped,
        )


# A project's name, or "" for none.
Project = Annotated[str, Field(pattern=r"^([A-Za-z0-9_.@+-]{1,64})?$", examples=["thesis"])]


class SessionCreate(Strict):
    """A new session: a fresh id unless one is given, untitled until its first message,
    in a project if one is named (made if new)."""

    id: Name | None = None
    title: Title | None = None
    project: Project = ""


class SessionRename(Strict):
    """A session's new title, or its project ("": none), or both."""

    title: Title | None = None
    project: Project | None = None


class Message(BaseModel):
    """The text of one message of a turn, for display."""

    role: str
    text: str


class TurnOut(BaseModel):
    """One committed turn: its messages as text, and the Agents SDK items themselves."""

    seq: int
    created_at: str
    messages: list[Message]
    items: list[dict[str, Any]]

    @classmethod
    def of(cls, turn: Turn) -> TurnOut:
        items: list[dict[str, Any]] = [dict(item) for item in turn.items]
        messages = [
            Message(role=item["role"], text=text)
            for item in items
            if isinstance(item.get("role"), str) and (text := item_text(item))  # type: ignore[arg-type]
        ]
        return cls(seq=turn.seq, created_at=turn.created_at, messages=messages, items=items)


class HistoryOut(BaseModel):
    """A session and all its turns, oldest first."""

    session: SessionOut
    turns: list[TurnOut]


class MessageIn(Strict):
    """A message to send; the reply streams back as server-sent events."""

    text: MessageText
    create: bool = Field(
        default=False,
        description="Start the session with this message: a 409 if the caller already has "
        "one of this id; if the turn fails, the session is not kept either.",
    )
    project: Project = Field(
        default="",
        description="With `create`: the project the new session is in (made if new).",
    )
    replace_last: bool = Field(
        default=False,
        description="The turn takes the place of the session's last one (regenerate a "
        "reply, or edit and resend the last message), which stays as a branch; a 409 if "
        "the session has no turn.",
    )
    edit_seq: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SEQ,
        description="The turn takes the place of turn `edit_seq` (its `seq`) of the active "
        "branch: the model sees the turns before it, and that turn and those after it stay "
        "as a branch (GET .../branches); a 404 if the active branch has no such turn.",
    )


# -- memory ------------------------------------------------------------------------------


class FactIn(Strict):
    """A fact to remember (replacing an older value of the same key), user-wide or, with
    a ``project``, that project's only."""

    key: FactKey
    value: FactValue
    project: Project = ""


class SnippetPart(BaseModel):
    """A piece of a search snippet: a matched word, or the text between matches."""

    text: str
    match: bool


class SearchHitOut(BaseModel):
    """One of the caller's messages that matches a search."""

    session_id: str
    session_title: str | None
    seq: int
    role: str
    created_at: str
    snippet: str = Field(description="The matched words in [ ], for reading.")
    parts: list[SnippetPart] = Field(
        description="The snippet in pieces, the matched words marked: unlike the brackets,"
        " never ambiguous, whatever the message holds."
    )
    score: float

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        """``hit``, found with ``snippets.HIGHLIGHT`` marking its matched words."""
        return cls(
            session_id=hit.session_id,
            session_title=hit.session_title,
            seq=hit.seq,
            role=hit.role,
            created_at=hit.created_at,
            snippet=bracketed(hit.snippet),
            parts=[SnippetPart(text=t, match=m) for t, m in snippet_parts(hit.snippet)],
            score=hit.score,
        )


ExportFormat = Literal["jsonl", "markdown"]
