"""The projects role: the names a user files sessions under, and how each one remembers.

A project is made when a session is first put in it, and its memory is *shared* until
the user scopes it (``set_project_memory``): a scoped project's facts and recall are its
own (see ``records.Project``). A project with no session left stays listed, with its
facts, until ``delete_project``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ...errors import ProjectNotFound
from ..checks import check_name, check_project
from ..records import Project, SessionInfo


class ProjectsRole(ABC):
    """A user's projects, and which project each session is in."""

    def list_projects(self, user: str) -> list[Project]:
        """The user's projects, by name, with how many sessions and facts each has."""
        return self._list_projects(check_name("user name", user))

    def get_project(self, user: str, project: str) -> Project:
        """One of the user's projects; raise ProjectNotFound if there is none of that name."""
        check_name("project name", project)
        for found in self.list_projects(user):
            if found.name == project:
                return found
        raise ProjectNotFound(f"{user!r} has no project {project!r} (see `memchat projects`)")

    def set_session_project(self, user: str, session_id: str, project: str) -> SessionInfo:
        """Put a session in ``project`` ("": in none), made if the user has no such
        project yet. Facts already learned stay where they were learned."""
        check_name("user name", user)
        check_name("session id", session_id)
        return self._set_session_project(user, session_id, check_project(project) or "")

    def set_project_memory(self, user: str, project: str, *, scoped: bool) -> Project:
        """Scope a project's memory (its facts and recall its own) or share it again;
        the project is made if the user has none of that name. Sharing it again keeps its
        facts, listed under it and given to its sessions again if it is scoped again."""
        check_name("user name", user)
        check_name("project name", project)
        self._set_project_memory(user, project, bool(scoped))
        return self.get_project(user, project)

    def delete_project(self, user: str, project: str) -> int:
        """Delete a project and its facts (with their history); its sessions stay, in no
        project. Return how many facts went; raise ProjectNotFound if there is none."""
        self.get_project(user, project)
        return self._delete_project(user, project)

    @abstractmethod
    def _list_projects(self, user: str) -> list[Project]: ...

    @abstractmethod
    def _set_session_project(self, user: str, session_id: str, project: str) -> SessionInfo: ...

    @abstractmethod
    def _set_project_memory(self, user: str, project: str, scoped: bool) -> None: ...

    @abstractmethod
    def _delete_project(self, user: str, project: str) -> int: ...
