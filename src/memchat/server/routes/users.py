"""``/api/me`` for everybody and ``/api/users`` for admins: accounts and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from starlette.concurrency import run_in_threadpool

from ...derived import forget_beside_store
from ...errors import InvalidName, UserNotFound
from ...forgetting import delete_user_verified
from ...store import Store
from ...store.base import check_name
from ..auth import AdminUser, CurrentUser
from ..errors import ApiError, not_found
from ..project_schemas import VERIFIED, Verify, receipt_response
from ..schemas import NewUserOut, RevokedOut, TokenOut, UserCreate, UserOut
from ..state import State
from . import errors

router = APIRouter(prefix="/api", tags=["users"])


def _existing(store: Store, name: str) -> None:
    try:
        store.get_user(check_name("user name", name))
    except (UserNotFound, InvalidName):
        raise not_found(f"no user {name!r}") from None


@router.get("/me", responses=errors())
async def me(state: State, user: CurrentUser) -> UserOut:
    """The caller."""
    return UserOut.of(user, state.store.is_admin(user.name))


@router.get("/users", responses=errors(403))
async def list_users(state: State, admin: AdminUser) -> list[UserOut]:
    """Every user (admins only)."""
    return [UserOut.of(u, state.store.is_admin(u.name)) for u in state.store.list_users()]


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=errors(403, 409))
async def create_user(state: State, admin: AdminUser, body: UserCreate) -> NewUserOut:
    """Create a user and their first API token (admins only); the token is shown once."""
    try:
        state.store.get_user(body.name)
    except UserNotFound:
        pass
    else:
        raise ApiError(409, "user_exists", f"user {body.name!r} already exists")
    user = state.store.ensure_user(body.name)
    if body.admin:
        state.store.set_admin(user.name, True)
    token = state.store.create_token(user.name)
    return NewUserOut(name=user.name, created_at=user.created_at, admin=body.admin, token=token)


@router.delete(
    "/users/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(403, 404, 409) | VERIFIED,
)
async def delete_user(
    state: State,
    admin: AdminUser,
    name: str,
    vacuum: Annotated[
        bool,
        Query(
            description="Then rewrite the database (and empty SQLite's write-ahead log), so"
            " no copy of the user's text is left on disk, as `memchat users delete --vacuum`."
        ),
    ] = False,
    verify: Verify = False,
) -> Response:
    """Delete a user and everything they have (admins only; not yourself, not an admin);
    with ``verify``, answer the receipt of the scan that follows."""
    _existing(state.store, name)
    if name == admin.name:
        raise ApiError(409, "conflict", "you cannot delete yourself")
    if state.store.is_admin(name):
        # One stolen admin token must not be enough to remove every other admin: the
        # operator deletes admins, on the server, with the command line.
        raise ApiError(
            409,
            "conflict",
            f"{name!r} is an admin: admins are deleted with `memchat users delete {name}`",
        )
    if verify:
        # Deleting, vacuuming and scanning take a while: off the event loop.
        receipt = await run_in_threadpool(delete_user_verified, state.store, name, vacuum=vacuum)
        forget_beside_store(state.settings.home, name)
        return receipt_response(receipt)
    state.store.delete_user(name)
    forget_beside_store(state.settings.home, name)
    if vacuum:
        # Rewriting the database takes a while: off the event loop, so other requests that
        # do not need the store are still served.
        await run_in_threadpool(state.store.vacuum)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{name}/tokens", status_code=status.HTTP_201_CREATED, responses=errors(403, 404)
)
async def create_token(state: State, admin: AdminUser, name: str) -> TokenOut:
    """Issue another API token for a user (admins only); it is shown once."""
    _existing(state.store, name)
    return TokenOut(user=name, token=state.store.create_token(name))


@router.delete("/users/{name}/tokens", responses=errors(403, 404))
async def revoke_tokens(state: State, admin: AdminUser, name: str) -> RevokedOut:
    """Revoke every API token of a user (admins only)."""
    _existing(state.store, name)
    return RevokedOut(revoked=state.store.revoke_tokens(name))
