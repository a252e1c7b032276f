"""The usage role: what turns cost, summed (``store/usage.py`` holds the records)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..checks import check_name
from ..records import SessionInfo
from ..usage import Grouping, TurnUsage, UsageTotal, check_grouping


class UsageRole(ABC):
    """Reading what turns cost; writing happens with the turn (``commit_turn``)."""

    def usage(
        self,
        user: str,
        *,
        session_id: str | None = None,
        since: str | None = None,
        by: str = "day",
    ) -> list[UsageTotal]:
        """The user's usage (or one session's), of turns since ``since`` (ISO 8601 UTC),
        summed per ``by``: days in order, models and sessions most tokens first."""
        check_name("user name", user)
        if session_id is not None:
            check_name("session id", session_id)
        return self._usage(user, session_id, since, check_grouping(by))

    def turn_usage(self, session: SessionInfo) -> dict[int, TurnUsage]:
        """The usage of the session's turns that have one, by turn sequence number."""
        return self._turn_usage(session)

    @abstractmethod
    def _usage(
        self, user: str, session_id: str | None, since: str | None, by: Grouping
    ) -> list[UsageTotal]: ...

    @abstractmethod
    def _turn_usage(self, session: SessionInfo) -> dict[int, TurnUsage]: ...
