"""The search role: full-text search of a user's messages, and recall's queries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ..checks import check_match, check_project, check_search
from ..records import IndexedMessage, SearchHit


class SearchRole(ABC):
    """Searches of the index of a user's messages. Every parameter is checked here
    (``checks.check_search``, ``checks.check_match``), so both backends refuse a bad one
    alike, before the backend's ``_search`` or ``_match_messages`` runs."""

    @property
    def searchable(self) -> bool:
        """True if the store keeps a search index: False for an encrypted store without
        one (MEMCHAT_ENCRYPTED_SEARCH), whose search raises SearchUnavailable."""
        return True

    def search(
        self,
        user: str,
        query: str,
        *,
        limit: int = 20,
        session_id: str | None = None,
        highlight: tuple[str, str] = ("[", "]"),
        project: str | None = None,
        shared_only: bool = False,
    ) -> list[SearchHit]:
        """The user's messages that match ``query``, best first (bm25), at most ``limit``.

        ``query`` is plain text, never query syntax: messages with all of its words are
        found, or, if none has them all, messages with any of them. Matched words in a
        hit's snippet are wrapped in ``highlight``. A query without words finds nothing.
        A bad parameter (an invalid user name or session id, a limit that is not a whole
        number >= 0, a highlight that is not two strings) is a ValueError or InvalidName.
        With ``project``, only that project's sessions are searched ("": those in none);
        with ``shared_only``, none of a project whose memory is scoped (what a session
        outside such a project recalls).
        """
        marks = check_search(user, query, limit, session_id, highlight)
        return self._search(
            user,
            query,
            limit=limit,
            session_id=session_id,
            highlight=marks,
            project=check_project(project),
            shared_only=bool(shared_only),
        )

    def match_messages(
        self,
        user: str,
        words: Sequence[str],
        *,
        limit: int,
        session_id: str | None = None,
        context_weights: tuple[float, float] = (0.5, 0.3),
        keep_rarest: bool = True,
        project: str | None = None,
        shared_only: bool = False,
    ) -> list[IndexedMessage]:
        """Messages containing any of ``words``, in their text or the two before them.

        Ranked by bm25 over the message's own text (weight 1) and the texts of the
        message before it and the one before that (``context_weights``); best first.
        A store may leave out words held by so many messages that ranking them all would
        be slow; ``keep_rarest`` searches for the rarest of them when that leaves none.
        Bad parameters are refused as ``search`` refuses them; ``words`` must be a list of
        strings and ``context_weights`` two numbers >= 0. ``project`` and ``shared_only``
        as in ``search``.
        """
        weights = check_match(user, words, limit, session_id, context_weights)
        return self._match_messages(
            user,
            list(words),
            limit=limit,
            session_id=session_id,
            context_weights=weights,
            keep_rarest=bool(keep_rarest),
            project=check_project(project),
            shared_only=bool(shared_only),
        )

    @abstractmethod
    def _search(
        self,
        user: str,
        query: str,
        *,
        limit: int,
        session_id: str | None,
        highlight: tuple[str, str],
        project: str | None,
        shared_only: bool,
    ) -> list[SearchHit]: ...

    @abstractmethod
    def _match_messages(
        self,
        user: str,
        words: Sequence[str],
        *,
        limit: int,
        session_id: str | None,
        context_weights: tuple[float, float],
        keep_rarest: bool,
        project: str | None,
        shared_only: bool,
    ) -> list[IndexedMessage]: ...

    @abstractmethod
    def get_messages(
        self, user: str, item_ids: Sequence[int], *, branches: bool = False
    ) -> list[IndexedMessage]:
        """The user's indexed messages with these item ids (unknown ids are left out):
        on the sessions' active lines only, as recall wants, or with ``branches`` on
        inactive branches too (``store/tree.py``), as forgetting and a fact's sources do."""

    @abstractmethod
    def messages_near(
        self, user: str, spans: Sequence[tuple[str, int, int]]
    ) -> list[IndexedMessage]:
        """The user's indexed messages in these spans of turns, in the order they were said.

        A span is (session id, first turn's seq, last turn's seq); spans may overlap, and
        each message is returned once. Recall reads the turns around what it found.
        """

    def all_messages(
        self,
        user: str,
        *,
        limit: int,
        session_id: str | None = None,
        project: str | None = None,
        shared_only: bool = False,
    ) -> list[IndexedMessage] | None:
        """Every indexed message of the user (or one session, or one project's sessions),
        in the order they were said, or None if there are more than ``limit`` items:
        bounded whatever the history. ``project`` and ``shared_only`` as in ``search``."""
        return self._all_messages(
            user,
            limit=limit,
            session_id=session_id,
            project=check_project(project),
            shared_only=bool(shared_only),
        )

    @abstractmethod
    def _all_messages(
        self,
        user: str,
        *,
        limit: int,
        session_id: str | None,
        project: str | None,
        shared_only: bool,
    ) -> list[IndexedMessage] | None: ...
