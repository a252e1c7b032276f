"""``/api/facts`` and ``/api/search``: what memchat remembers about the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from ...forgetting import forget_fact_verified
from ...memory import forget as forgetting
from ...memory.facts import normalize_key
from ...memory.timeline import fact_timeline
from ...store.snippets import HIGHLIGHT
from .. import pages
from ..auth import CurrentUser
from ..errors import not_found
from ..fact_schemas import FactOut, FactVersionOut
from ..pages import PAGED, Cursor
from ..params import storable
from ..project_schemas import VERIFIED, ProjectName, Verify, receipt_response
from ..schemas import FactIn, SearchHitOut
from ..state import State
from . import errors
from .sessions import own_session

router = APIRouter(prefix="/api", tags=["memory"])

# The deepest a search pages: ranking costs more the further down it reads.
MAX_SEARCH_HITS = 1000

# Which facts: "" for the user-wide ones, a name for that project's.
InProject = Annotated[
    ProjectName,
    Query(description='The fact\'s project: "" (the default) for a user-wide fact.'),
]


@router.get("/facts", responses=PAGED | errors(404))
async def list_facts(
    state: State,
    user: CurrentUser,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="Facts per page.")] = 100,
    cursor: Cursor = None,
    project: Annotated[
        ProjectName | None,
        Query(description='Only this project\'s facts ("": the user-wide ones; none: all).'),
    ] = None,
) -> list[FactOut]:
    """The facts remembered about the caller, most recently updated first, a page at a time."""
    after = pages.decode("facts", cursor, str, int)
    found = state.store.list_facts(user.name, limit=limit + 1, after=after, project=project)
    kept = pages.page(found, limit, request, response, "facts", lambda f: f.position)
    sources = state.store.fact_sources(user.name)
    return [FactOut.of(fact, sources.get(fact.id)) for fact in kept]


@router.get("/facts/{key}/history", responses=errors(404))
async def fact_history(
    state: State, user: CurrentUser, key: str, project: InProject = ""
) -> list[FactVersionOut]:
    """Every value the caller's fact ``key`` has had, oldest first, the current one last."""
    versions = fact_timeline(state.store, user.name, key, project)
    if not versions:
        raise not_found(f"you have no fact {normalize_key(key)!r}")
    return [FactVersionOut.of(version) for version in versions]


@router.post("/facts", responses=errors(409))
async def set_fact(state: State, user: CurrentUser, body: FactIn) -> FactOut:
    """Remember a fact about the caller (replacing an older value of the same key)."""
    key, value = storable("fact key", body.key), storable("fact value", body.value)
    return FactOut.of(state.store.set_fact(user.name, key, value, "api", project=body.project))


@router.delete(
    "/facts/{key_or_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404) | VERIFIED,
)
async def forget_fact(
    state: State,
    user: CurrentUser,
    key_or_id: str,
    project: InProject = "",
    verify: Verify = False,
) -> Response:
    """Forget a fact, by key (in ``project``) or id (with ``verify``, and answer its
    receipt)."""
    known = state.store.list_facts(user.name)
    key = (project, key_or_id)
    if not any((f.project, f.key) == key or str(f.id) == key_or_id for f in known):
        raise not_found(f"you have no fact {key_or_id!r}")
    if verify:
        found = await run_in_threadpool(
            forget_fact_verified, state.store, user.name, key_or_id, project=project
        )
        return receipt_response(found[1])
    forgetting.forget_fact(state.store, user.name, key_or_id, project=project)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/search", responses=PAGED | errors(404))
async def search(
    state: State,
    user: CurrentUser,
    request: Request,
    response: Response,
    q: Annotated[str, Query(max_length=1000, description="Plain words, not query syntax.")],
    limit: Annotated[int, Query(ge=1, le=100, description="Hits per page.")] = 20,
    session: Annotated[str | None, Query(description="Only this session.")] = None,
    cursor: Cursor = None,
) -> list[SearchHitOut]:
    """The caller's messages that match ``q``, best first, a page at a time (the best
    1,000 in all)."""
    if session is not None:
        own_session(state.store, user.name, session)
    skip = pages.decode("search", cursor, int)
    offset = min(max(skip[0], 0), MAX_SEARCH_HITS) if skip else 0
    # Ranked anew for each page: the hits before this page are read and dropped.
    wanted = min(offset + limit + 1, MAX_SEARCH_HITS)
    hits = state.store.search(user.name, q, limit=wanted, session_id=session, highlight=HIGHLIGHT)
    end = offset + limit
    kept = pages.page(hits[offset:], limit, request, response, "search", lambda _: (end,))
    return [SearchHitOut.of(hit) for hit in kept]
