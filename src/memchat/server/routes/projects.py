"""``/api/projects``: the caller's projects, and how each one remembers."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ...errors import InvalidName, ProjectNotFound
from ...store import Store
from ...store.checks import check_name
from ..auth import CurrentUser
from ..errors import not_found
from ..project_schemas import ProjectIn, ProjectOut
from ..state import State
from . import errors

router = APIRouter(prefix="/api/projects", tags=["projects"])


def _own(store: Store, user: str, name: str) -> None:
    """A 404 unless the caller has project ``name``."""
    try:
        store.get_project(user, check_name("project name", name))
    except (InvalidName, ProjectNotFound):
        raise not_found(f"you have no project {name!r}") from None


@router.get("", responses=errors())
async def list_projects(state: State, user: CurrentUser) -> list[ProjectOut]:
    """The caller's projects, by name."""
    return [ProjectOut.of(p) for p in state.store.list_projects(user.name)]


@router.get("/{name}", responses=errors(404))
async def get_project(state: State, user: CurrentUser, name: str) -> ProjectOut:
    """One of the caller's projects."""
    _own(state.store, user.name, name)
    return ProjectOut.of(state.store.get_project(user.name, name))


@router.put("/{name}", responses=errors())
async def set_project(state: State, user: CurrentUser, name: str, body: ProjectIn) -> ProjectOut:
    """Scope a project's memory or share it again (made if the caller has none of that
    name). Sharing it again keeps its facts, unused until it is scoped again."""
    scoped = body.memory == "scoped"
    return ProjectOut.of(state.store.set_project_memory(user.name, name, scoped=scoped))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_project(state: State, user: CurrentUser, name: str) -> Response:
    """Delete a project and its facts; its sessions stay, in no project."""
    _own(state.store, user.name, name)
    state.store.delete_project(user.name, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
