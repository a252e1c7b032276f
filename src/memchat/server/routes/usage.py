"""``/api/usage``: what the caller's turns cost (admins: anybody's), per day, model or session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ...ages import cutoff
from ...errors import InvalidName, UserNotFound
from ...store.base import check_name
from ...store.usage import Grouping, UsageTotal, combined
from ..auth import CurrentUser
from ..errors import ApiError, not_found
from ..state import State
from . import errors
from .sessions import own_session

router = APIRouter(prefix="/api", tags=["usage"])


class UsageTotalOut(BaseModel):
    """The usage of some turns: tokens as the model reported them, and average times."""

    key: str = Field(description="The UTC day (YYYY-MM-DD), the model or the session id.")
    turns: int
    requests: int = Field(description="Model calls (more than turns when tools were called).")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    first_token_ms: int | None = Field(
        description="Average time from the turn's start to the reply's first text."
    )
    total_ms: int | None = Field(description="Average time from the turn's start to its end.")

    @classmethod
    def of(cls, total: UsageTotal) -> UsageTotalOut:
        return cls(
            key=total.key,
            turns=total.turns,
            requests=total.requests,
            input_tokens=total.input_tokens,
            output_tokens=total.output_tokens,
            total_tokens=total.total_tokens,
            first_token_ms=total.first_token_ms,
            total_ms=total.total_ms,
        )


class UsageOut(BaseModel):
    """A user's usage, summed per ``by``, and in all."""

    user: str
    session: str | None
    since: str | None = Field(description="The earliest turn counted (ISO 8601, UTC).")
    by: Grouping
    rows: list[UsageTotalOut]
    total: UsageTotalOut


@router.get("/usage", responses=errors(403, 404))
async def usage(
    state: State,
    caller: CurrentUser,
    by: Annotated[Grouping, Query(description="Sum per UTC day, model or session.")] = "day",
    session: Annotated[str | None, Query(description="Only this session.")] = None,
    since: Annotated[
        str | None,
        Query(pattern=r"^\d{1,6}[hdw]$", description="Only turns of the last 12h, 7d, 2w..."),
    ] = None,
    user: Annotated[
        str | None, Query(max_length=64, description="Whose usage (admins only; default: yours).")
    ] = None,
) -> UsageOut:
    """Tokens and times of the caller's turns (an admin's: of any user, with ``user``)."""
    name = caller.name
    if user is not None and user != caller.name:
        if not state.store.is_admin(caller.name):
            raise ApiError(403, "forbidden", "only admins may see another user's usage")
        try:
            name = state.store.get_user(check_name("user name", user)).name
        except (UserNotFound, InvalidName):
            raise not_found(f"no user {user!r}") from None
    if session is not None:
        own_session(state.store, name, session)
    start = None if since is None else cutoff(since)
    totals = state.store.usage(name, session_id=session, since=start, by=by)
    return UsageOut(
        user=name,
        session=session,
        since=start,
        by=by,
        rows=[UsageTotalOut.of(total) for total in totals],
        total=UsageTotalOut.of(combined(totals)),
    )
