"""``/api/sessions/{id}/branches`` and ``/fork``: a session's branches, switching, forking.

An edit is a message sent with ``edit_seq`` (``routes/messages.py``); the tree itself is
``store/tree.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from ...store.records import MAX_SEQ, BranchInfo
from ...store.titles import item_text
from ..auth import CurrentUser
from ..schemas import SessionId, SessionOut, Strict, TurnOut
from ..state import State
from . import errors
from .sessions import own_session

router = APIRouter(prefix="/api/sessions", tags=["branches"])

BranchId = Annotated[
    int, Path(ge=1, le=MAX_SEQ, description="A branch's id (see GET .../branches).")
]


class BranchOut(BaseModel):
    """A branch of a session that is not its active line."""

    id: int
    parent: int = Field(description="The branch it continues (0: the active branch).")
    fork_seq: int = Field(
        description="The `seq` of the turn it continues from (0: the session's start); "
        "its first turn is another version of the parent's turn after that one."
    )
    created_at: str
    turn_count: int
    first_message: str | None = Field(description="The text of its first turn's message.")
    first_seq: int | None = Field(
        description="The `seq` of its first turn: versions of a turn (branches of the same "
        "`parent` and `fork_seq`) were written in this order."
    )

    @classmethod
    def of(cls, branch: BranchInfo) -> BranchOut:
        first = None if branch.first_item is None else item_text(branch.first_item)
        return cls(
            id=branch.id,
            parent=branch.parent,
            fork_seq=branch.fork_seq,
            created_at=branch.created_at,
            turn_count=branch.turn_count,
            first_message=first,
            first_seq=branch.first_seq,
        )


class ForkIn(Strict):
    """Where to fork a session."""

    at_seq: int = Field(ge=1, le=MAX_SEQ, description="The `seq` of the last turn to copy.")


@router.get("/{session_id}/branches", responses=errors(404))
async def list_branches(state: State, user: CurrentUser, session_id: SessionId) -> list[BranchOut]:
    """The session's branches besides the active one, by the turn they continue from."""
    info = own_session(state.store, user.name, session_id)
    return [BranchOut.of(branch) for branch in state.store.list_branches(info)]


@router.get("/{session_id}/branches/{branch}", responses=errors(404))
async def branch_turns(
    state: State, user: CurrentUser, session_id: SessionId, branch: BranchId
) -> list[TurnOut]:
    """A branch's own turns (what comes before them is its parent's)."""
    info = own_session(state.store, user.name, session_id)
    return [TurnOut.of(turn) for turn in state.store.branch_turns(info, branch)]


@router.post("/{session_id}/branches/{branch}/activate", responses=errors(404, 409))
async def activate_branch(
    state: State, user: CurrentUser, session_id: SessionId, branch: BranchId
) -> SessionOut:
    """Make the branch the active one; the active branch's turns after the fork become a
    branch of the same id. Returns the session as it is now."""
    info = own_session(state.store, user.name, session_id)
    async with state.store.turn_lock(info):
        state.store.activate_branch(info, branch)
    return SessionOut.of(state.store.get_session(user.name, info.id))


@router.post("/{session_id}/fork", status_code=status.HTTP_201_CREATED, responses=errors(404, 409))
async def fork_session(
    state: State, user: CurrentUser, session_id: SessionId, body: ForkIn
) -> SessionOut:
    """A new session with a copy of the active branch's turns up to turn ``at_seq``."""
    info = own_session(state.store, user.name, session_id)
    return SessionOut.of(state.store.fork_session(info, body.at_seq))
