"""``/api/sessions``: the caller's conversations and their history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from ...derived import forget_beside_store
from ...errors import InvalidName
from ...forgetting import delete_session_verified
from ...store import SessionInfo, Store
from ...store.base import check_name
from .. import pages
from ..auth import CurrentUser
from ..errors import not_found
from ..pages import PAGED, Cursor
from ..params import storable
from ..project_schemas import VERIFIED, ProjectName, Verify, receipt_response
from ..schemas import HistoryOut, SessionCreate, SessionId, SessionOut, SessionRename, TurnOut
from ..state import State
from . import errors

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


def own_session(store: Store, user: str, session_id: str) -> SessionInfo:
    """The caller's session, or a 404 (whoever else may have a session of that id)."""
    try:
        # Checked here, not left to the store: PostgreSQL cannot even look up an id with
        # a NUL in it.
        found = store.find_session(user, check_name("session id", session_id))
    except InvalidName:
        found = None  # no session can have that id

    if found is None:
        raise not_found(f"you have no session {session_id!r}")
    return found


@router.get("", responses=PAGED | errors(404))
async def list_sessions(
    state: State,
    user: CurrentUser,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="Sessions per page.")] = 100,
    cursor: Cursor = None,
    project: Annotated[
        ProjectName | None, Query(description='Only this project\'s sessions ("": in none).')
    ] = None,
) -> list[SessionOut]:
    """The caller's sessions, most recently updated first, a page at a time."""
    after = pages.decode("sessions", cursor, str, int)
    found = state.store.list_sessions(user.name, limit=limit + 1, after=after, project=project)
    kept = pages.page(found, limit, request, response, "sessions", lambda s: s.position)
    return [SessionOut.of(info) for info in kept]


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_session(state: State, user: CurrentUser, body: SessionCreate) -> SessionOut:
    """Start a session (a fresh id unless one is given), in a project if one is named."""
    title = None if body.title is None else storable("title", body.title)
    made = state.store.create_session(user.name, body.id, title=title, project=body.project)
    return SessionOut.of(made)


@router.get("/{session_id}", responses=errors(404))
async def get_session(state: State, user: CurrentUser, session_id: SessionId) -> SessionOut:
    """One of the caller's sessions."""
    return SessionOut.of(own_session(state.store, user.name, session_id))


@router.patch("/{session_id}", responses=errors(404))
async def rename_session(
    state: State, user: CurrentUser, session_id: SessionId, body: SessionRename
) -> SessionOut:
    """Set a session's title, or its project (made if new; "": none), or both."""
    info = own_session(state.store, user.name, session_id)
    if body.title is not None:
        info = state.store.rename_session(user.name, session_id, storable("title", body.title))
    if body.project is not None:
        info = state.store.set_session_project(user.name, session_id, body.project)
    return SessionOut.of(info)


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404) | VERIFIED,
)
async def delete_session(
    state: State, user: CurrentUser, session_id: SessionId, verify: Verify = False
) -> Response:
    """Delete a session and all its messages (with ``verify``, and answer its receipt)."""
    own_session(state.store, user.name, session_id)
    receipt = None
    if verify:
        # The scan reads the whole store: off the event loop.
        receipt = await run_in_threadpool(
            delete_session_verified, state.store, user.name, session_id
        )
    else:
        state.store.delete_session(user.name, session_id)
    forget_beside_store(state.settings.home, user.name, session_id)
    if receipt is not None:
        return receipt_response(receipt)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{session_id}/clear", responses=errors(404))
async def clear_session(state: State, user: CurrentUser, session_id: SessionId) -> SessionOut:
    """Delete every message of a session, keeping the session."""
    info = own_session(state.store, user.name, session_id)
    async with state.store.turn_lock(info):
        # Under the turn lock: a reply streaming in this session commits before or after
        # the clear, never half on each side.
        state.store.clear_session(info)
        forget_beside_store(state.settings.home, user.name, session_id)
    return SessionOut.of(own_session(state.store, user.name, session_id))


@router.get("/{session_id}/messages", responses=PAGED | errors(404))
async def get_history(
    state: State,
    user: CurrentUser,
    session_id: SessionId,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500, description="Turns per page.")] = 50,
    cursor: Cursor = None,
) -> HistoryOut:
    """A session's turns, oldest first, a page at a time."""
    info = own_session(state.store, user.name, session_id)
    after = pages.decode("turns", cursor, int)
    found = state.store.list_turns(info, after_seq=after[0] if after else 0, limit=limit + 1)
    turns = pages.page(found, limit, request, response, "turns", lambda t: (t.seq,))
    return HistoryOut(session=SessionOut.of(info), turns=[TurnOut.of(turn) for turn in turns])
