"""The SQLite store's searches of its full-text index: ``search`` and recall's queries.

The index itself, and how it is kept in step with the items, is ``sqlite/index.py``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..crypto import unseal
from ..records import IndexedMessage, SearchHit, query_words
from ..snippets import SNIPPET_TOKENS
from .index import SQLiteIndexMixin
from .stats import idf, owner_filter, quote

if TYPE_CHECKING:
    from .blind import BlindTerms


# Recall ranks every message that holds one of its words, so a word in tens of thousands
# of messages (in a very long history) would make each turn slow while adding little to
# the ranking. Words in more of the user's messages than this are left out of recall's
# query; if every word is that common, the rarest is kept if it is under the second limit.
MAX_TERM_MESSAGES = 2000
MAX_RAREST_TERM_MESSAGES = 8000

# The user (session, project) filters are bound values; NULL for the session (or project)
# means any. Recall's
# MATCH expression may also hold the user's ``owner`` filter (sqlite/stats.py).
# With ``shared_only`` (1), the sessions of projects whose memory is scoped are left out.
_SHARED = " LEFT JOIN projects p ON p.user_id = s.user_id AND p.name = s.project"
_PROJECT = " AND (? IS NULL OR s.project = ?) AND (? = 0 OR p.memory IS NOT 'scoped')"
_SCOPE = (
    " JOIN items i ON i.id = items_fts.rowid JOIN sessions s ON s.id = i.session_id"
    " JOIN users u ON u.id = s.user_id" + _SHARED + " WHERE items_fts MATCH ? AND u.name = ?"
    " AND (? IS NULL OR s.key = ?)" + _PROJECT
)
# Only ``text`` counts for search; recall weighs context1 and context2 too. The columns
# after them (unindexed, and ``owner``) never count.
_SEARCH_BM25 = "-bm25(items_fts, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)"
_SEARCH = (
    "SELECT s.key, s.title, i.seq, i.id, items_fts.role, i.created_at,"
    f" snippet(items_fts, 0, ?, ?, '…', ?), {_SEARCH_BM25} AS score, i.branch"
    " FROM items_fts" + _SCOPE + " ORDER BY score DESC, i.id DESC LIMIT ?"
)
# A blind index holds hashes, so the snippet is cut from the item, decrypted, in Python.
_SEARCH_BLIND = (
    "SELECT s.key, s.title, i.seq, i.id, items_fts.role, i.created_at,"
    f" i.data, {_SEARCH_BM25} AS score, i.branch"
    " FROM items_fts" + _SCOPE + " ORDER BY score DESC, i.id DESC LIMIT ?"
)
# A message's indexed columns, read straight from FTS5's own content table
# (``items_fts_content``: id, then c0... in the order of SEARCH_SCHEMA's columns, part of
# FTS5's file format). Looking rows up through the virtual table instead cost four times as
# much, a tenth of a recall in a long history.
_MESSAGE_COLUMNS = "c.id, s.key, i.seq, c.c3 AS role, i.created_at, c.c0 AS text, c.c4, c.c5"
# Ranks first and reads the texts of the best ``limit`` matches only: sorting every match
# with its text cost a fifth of the query in a long history.
_MATCH = (
    f"SELECT {_MESSAGE_COLUMNS}, m.score FROM"
    " (SELECT i.id, -bm25(items_fts, 1.0, ?, ?, 0.0, 0.0, 0.0, 0.0) AS score"
    "  FROM items_fts" + _SCOPE + " AND i.branch = 0 ORDER BY score DESC, i.id DESC LIMIT ?) m"
    " CROSS JOIN items i ON i.id = m.id CROSS JOIN items_fts_content c ON c.id = i.id"
    " JOIN sessions s ON s.id = i.session_id ORDER BY m.score DESC, m.id DESC"
)
# The ids come as one bound JSON array; CROSS JOIN looks each one up rather than scanning
# all of the user's items.
_BY_ID = (
    f"SELECT {_MESSAGE_COLUMNS}, 0.0 FROM json_each(?) ids"
    " CROSS JOIN items i ON i.id = ids.value CROSS JOIN items_fts_content c ON c.id = i.id"
    " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
    " WHERE u.name = ? AND (? OR i.branch = 0)"
)

# Spans come as one bound JSON array of [session key, first seq, last seq]; the items
# index (session_id, seq, id) finds each span's turns.
_NEAR = (
    f"SELECT DISTINCT {_MESSAGE_COLUMNS}, 0.0 FROM json_each(?) r"
    " CROSS JOIN users u CROSS JOIN sessions s ON s.user_id = u.id"
    " AND s.key = json_extract(r.value, '$[0]')"
    " CROSS JOIN items i ON i.session_id = s.id AND i.branch = 0"
    " AND i.seq BETWEEN json_extract(r.value, '$[1]') AND json_extract(r.value, '$[2]')"
    " CROSS JOIN items_fts_content c ON c.id = i.id WHERE u.name = ? ORDER BY i.id"
)
# Counts at most ``limit`` items, so a long history costs no more than a short one.
_ITEM_COUNT = (
    "SELECT count(*) FROM (SELECT 1 FROM users u JOIN sessions s ON s.user_id = u.id"
    + _SHARED
    + " CROSS JOIN items i ON i.session_id = s.id AND i.branch = 0"
    " WHERE u.name = ? AND (? IS NULL OR s.key = ?)" + _PROJECT + " LIMIT ?)"
)
_ALL = (
    f"SELECT {_MESSAGE_COLUMNS}, 0.0 FROM users u JOIN sessions s ON s.user_id = u.id"
    + _SHARED
    + " CROSS JOIN items i ON i.session_id = s.id AND i.branch = 0"
    " CROSS JOIN items_fts_content c ON c.id = i.id"
    " WHERE u.name = ? AND (? IS NULL OR s.key = ?)" + _PROJECT + " ORDER BY i.id"
)


def match_expression(words: Sequence[str], *, all_words: bool, column: str | None = None) -> str:
    """An FTS5 query matching ``words`` (each a quoted term), all of them or any."""
    terms = [quote(word) for word in words]
    expression = (" " if all_words else " OR ").join(terms)
    return f"{{{column}}} : ({expression})" if column else expression


class SQLiteSearchMixin(SQLiteIndexMixin):
    """Search and recall queries, mixed into :class:`SQLiteStore` (the index's upkeep is
    ``SQLiteIndexMixin``'s)."""

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
    ) -> list[SearchHit]:
        blind = self._searchable()
        words = query_words(query)
        if not words or limit <= 0:
            return []
        self.sync_search_index()
        scope = (user, session_id, session_id, project, project, shared_only, limit)

        def work(conn: sqlite3.Connection) -> list[SearchHit]:
            terms = words if blind is None else blind.query_words(conn, words)
            if not terms:
                return []  # no word the index could hold
            # All the words first, as a search box does; any of them if no message has all.
            for all_words in (True, False) if len(terms) > 1 else (True,):
                expression = match_expression(terms, all_words=all_words, column="text")
                if blind is None:
                    marks = (*highlight, SNIPPET_TOKENS)
                    rows = conn.execute(_SEARCH, (*marks, expression, *scope)).fetchall()
                    hits = [SearchHit(*row) for row in rows]
                else:
                    rows = conn.execute(_SEARCH_BLIND, (expression, *scope)).fetchall()
                    hits = []
                    for key, sealed, seq, item_id, role, created_at, data, score, branch in rows:
                        title = None if sealed is None else unseal(self.cipher, sealed)
                        snippet = self._snippet(conn, blind, data, words, highlight)
                        hits.append(
                            SearchHit(
                                key, title, seq, item_id, role, created_at, snippet, score, branch
                            )
                        )
                if hits:
                    return hits
            return []

        return self._db.read(work)

    def _snippet(
        self,
        conn: sqlite3.Connection,
        blind: BlindTerms,
        data: str,
        words: list[str],
        highlight: tuple[str, str],
    ) -> str:
        return blind.snippet(conn, self._item_text(data), words, highlight, SNIPPET_TOKENS)

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
    ) -> list[IndexedMessage]:
        self.sync_search_index()
        if not words or limit <= 0 or self.index_mode() == "off":
            return []

        def work(conn: sqlite3.Connection) -> list[IndexedMessage]:
            owner = owner_filter(conn, user)
            if owner is None:
                return []
            terms = words if self.blind is None else self.blind.query_words(conn, words)
            (mark,) = conn.execute("SELECT indexed_through FROM search_state").fetchone()
            mine = self._counts.words(conn, owner, terms, MAX_RAREST_TERM_MESSAGES, mark)
            kept = _affordable(terms, mine, keep_rarest=keep_rarest)
            if not kept:
                return []
            # bm25 with the user's own statistics (sqlite/stats.py): one query per word.
            table = self._counts.table_words(conn, kept, mark)
            table_rows = self._counts.table(conn, mark)
            user_rows = self._counts.user(conn, owner, mark)
            scores: dict[int, float] = {}
            rows: dict[int, tuple[Any, ...]] = {}
            for word in kept:
                scale = idf(user_rows, mine[word]) / idf(table_rows, table[word])
                # FTS5 reads every row of each term of the expression: the word's own
                # rows (of all users) or, through ``owner``, all of the user's rows. The
                # fewer is read; both find the same rows, with the same scores.
                expression = quote(word)
                if table[word] > user_rows:
                    expression = f"{owner} AND {expression}"
                where = (user, session_id, session_id, project, project, shared_only)
                scope = (expression, *where, limit)
                for row in conn.execute(_MATCH, (*context_weights, *scope)):
                    scores[row[0]] = scores.get(row[0], 0.0) + scale * row[-1]
                    rows[row[0]] = row
            best = sorted(scores, key=lambda item_id: (scores[item_id], item_id), reverse=True)
            found = [_message((*rows[i][:-1], scores[i])) for i in best[:limit]]
            return self._with_texts(conn, found)

        return self._db.read(work)

    def get_messages(
        self, user: str, item_ids: Sequence[int], *, branches: bool = False
    ) -> list[IndexedMessage]:
        if not item_ids:
            return []
        self.sync_search_index()

        def work(conn: sqlite3.Connection) -> list[IndexedMessage]:
            wanted = json.dumps([int(i) for i in item_ids])
            rows = conn.execute(_BY_ID, (wanted, user, bool(branches))).fetchall()
            return self._with_texts(conn, [_message(row) for row in rows])

        return self._db.read(work)

    def messages_near(
        self, user: str, spans: Sequence[tuple[str, int, int]]
    ) -> list[IndexedMessage]:
        if not spans:
            return []
        self.sync_search_index()
        wanted = json.dumps([[key, int(first), int(last)] for key, first, last in spans])

        def work(conn: sqlite3.Connection) -> list[IndexedMessage]:
            rows = conn.execute(_NEAR, (wanted, user)).fetchall()
            return self._with_texts(conn, [_message(row) for row in rows])

        return self._db.read(work)

    def _all_messages(
        self,
        user: str,
        *,
        limit: int,
        session_id: str | None,
        project: str | None,
        shared_only: bool,
    ) -> list[IndexedMessage] | None:
        self.sync_search_index()

        def work(conn: sqlite3.Connection) -> list[IndexedMessage] | None:
            scope = (user, session_id, session_id, project, project, shared_only)
            (count,) = conn.execute(_ITEM_COUNT, (*scope, limit + 1)).fetchone()
            if count > limit:
                return None
            rows = conn.execute(_ALL, scope).fetchall()
            return self._with_texts(conn, [_message(row) for row in rows])

        return self._db.read(work)


def _affordable(words: Sequence[str], counts: dict[str, int], *, keep_rarest: bool) -> list[str]:
    """``words`` without those in too many of the user's messages (see MAX_TERM_MESSAGES)."""
    kept = [word for word in dict.fromkeys(words) if 0 < counts[word] <= MAX_TERM_MESSAGES]
    held = [word for word in words if counts[word]]
    if kept or not held or not keep_rarest:
        return kept
    rarest = min(held, key=lambda word: counts[word])
    return [rarest] if counts[rarest] <= MAX_RAREST_TERM_MESSAGES else []


def _message(row: tuple[Any, ...]) -> IndexedMessage:
    item_id, session, seq, role, created_at, text, prev1, prev2, score = row
    previous = tuple(int(i) for i in (prev1, prev2) if i is not None)
    return IndexedMessage(item_id, session, seq, role, created_at, text, previous, float(score))
