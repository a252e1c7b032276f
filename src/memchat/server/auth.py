"""Who is calling: a bearer token per user, and an admin role for user management.

Every route that touches data depends on :data:`CurrentUser` and passes the caller's name
to the store, so a user can reach only their own sessions, facts and exports: somebody
else's session is simply not found (404). Admin routes depend on :data:`AdminUser` (403
for everybody else).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..store import User
from .errors import ApiError
from .state import State

# auto_error=False: a missing header gets the API's own JSON 401, not FastAPI's 403.
bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `memchat users add NAME` (or an admin's POST /api/users).",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Unauthorized(ApiError):
    """No valid API token was presented."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message, headers=_CHALLENGE)


async def _current_user(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized("send an API token: Authorization: Bearer <token>")
    user = state.store.user_for_token(credentials.credentials)
    if user is None:
        raise Unauthorized("the API token is unknown or was revoked")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


async def _current_token(
    user: CurrentUser,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    assert credentials is not None  # _current_user has made sure of it
    return credentials.credentials


# The token the caller authenticated with (a turn checks it again before it is stored).
CurrentToken = Annotated[str, Depends(_current_token)]


async def _admin_user(state: State, user: CurrentUser) -> User:
    if not state.store.is_admin(user.name):
        raise ApiError(403, "forbidden", "this needs the admin role")
    return user


AdminUser = Annotated[User, Depends(_admin_user)]
