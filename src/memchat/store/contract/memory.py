"""The memory role: a user's facts, the messages kept out of recall, session summaries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ..checks import check_limit, check_name, check_project, clean_text
from ..records import Fact, FactSource, FactVersion, Position, SessionInfo, Summary


class MemoryRole(ABC):
    """What memchat remembers besides the turns themselves."""

    def list_facts(
        self,
        user: str,
        *,
        limit: int | None = None,
        after: Position | None = None,
        project: str | None = None,
    ) -> list[Fact]:
        """The user's facts, most recently updated first: at most ``limit`` of them, and
        with ``after`` (a fact's ``position``) only those that come after it. ``project``:
        None for every fact, "" for the user-wide ones, a name for that project's."""
        return self._list_facts(
            check_name("user name", user), check_limit(limit), after, check_project(project)
        )

    def set_fact(
        self,
        user: str,
        key: str,
        value: str,
        source: str,
        *,
        taught_by: tuple[SessionInfo, int] | None = None,
        project: str | None = None,
    ) -> Fact:
        """Record a fact (raise UserNotFound). A new value for the same key replaces the
        old one, which stays in ``fact_history``. ``taught_by`` (session, turn seq): the
        turn whose user message stated it; the fact then goes when every message that
        stated it is deleted (and falls back to its earlier value, if one still stands).

        ``project``: "" for a user-wide fact, a name for that project's; None (the
        default): where it was said, the project of ``taught_by``'s session if that
        project's memory is scoped, else user-wide."""
        check_name("user name", user)
        if taught_by is not None and taught_by[0].user != user:
            raise ValueError("a fact is taught by one of the same user's turns")
        if project is None:
            project = (taught_by[0].memory_scope if taught_by is not None else None) or ""
        return self._set_fact(
            user,
            clean_text(key),
            clean_text(value),
            clean_text(source),
            taught_by,
            check_project(project) or "",
        )

    def fact_sources(self, user: str) -> dict[int, list[FactSource]]:
        """The messages each of the user's facts was learned from, by fact id (facts set
        by hand, through the API or by import have none)."""
        return self._fact_sources(check_name("user name", user))

    def fact_history(
        self, user: str, key: str | None = None, *, project: str | None = None
    ) -> list[FactVersion]:
        """The earlier values of the user's fact ``key`` (None: of every fact), oldest
        first; the current values are ``list_facts``'s. ``project`` as in ``list_facts``."""
        return self._fact_history(
            check_name("user name", user),
            None if key is None else clean_text(key),
            check_project(project),
        )

    def forget_fact(self, user: str, key_or_id: str, *, project: str = "") -> Fact:
        """Delete a fact, with its earlier values, and return it: the one with that key in
        ``project`` ("": the user-wide one), else the user's fact with that id (in any
        project); raise FactNotFound if there is none."""
        return self._forget_fact(
            check_name("user name", user), clean_text(key_or_id), check_project(project) or ""
        )

    def hide_from_recall(self, user: str, item_ids: Sequence[int]) -> None:
        """Keep these messages of the user's out of recall (they stay in the history)."""
        self._hide_from_recall(check_name("user name", user), [int(i) for i in item_ids])

    def hidden_from_recall(self, user: str) -> set[int]:
        """The ids of the user's messages kept out of recall."""
        return self._hidden_from_recall(check_name("user name", user))

    @abstractmethod
    def _list_facts(
        self, user: str, limit: int | None, after: Position | None, project: str | None
    ) -> list[Fact]: ...

    @abstractmethod
    def _set_fact(
        self,
        user: str,
        key: str,
        value: str,
        source: str,
        taught_by: tuple[SessionInfo, int] | None,
        project: str,
    ) -> Fact: ...

    @abstractmethod
    def _fact_sources(self, user: str) -> dict[int, list[FactSource]]: ...

    @abstractmethod
    def _fact_history(
        self, user: str, key: str | None, project: str | None
    ) -> list[FactVersion]: ...

    @abstractmethod
    def _forget_fact(self, user: str, key_or_id: str, project: str) -> Fact: ...

    @abstractmethod
    def _hide_from_recall(self, user: str, item_ids: list[int]) -> None: ...

    @abstractmethod
    def _hidden_from_recall(self, user: str) -> set[int]: ...

    @abstractmethod
    def get_summary(self, session: SessionInfo) -> Summary | None:
        """The session's running summary, or None."""

    @abstractmethod
    def set_summary(self, session: SessionInfo, through_seq: int, text: str) -> None:
        """Replace the session's running summary (the items themselves stay)."""
