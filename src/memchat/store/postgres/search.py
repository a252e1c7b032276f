"""Search and recall on PostgreSQL: GIN-indexed tsvectors, ranked by bm25 like SQLite's FTS5.

``search`` and ``match_messages`` keep the SQLite store's interface and ranking function,
so recall (``memory/recall.py``), tuned on FTS5's bm25, works the same on both. The GIN
index finds the candidates (``doc @@ query``); bm25 is computed in SQL from the
documents' lexeme weights (A: the message's own words, B and C: the two before it):

    score = sum over query terms t of  idf(t) * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD))

with f the weighted count of t in the document, D its length in tokens, and k1 = 1.2,
b = 0.75 as in FTS5. Unlike FTS5, whose statistics (N, avgD, and the documents holding
each term) span the whole table, they span the user's own messages here: one user's
history never changes how another's ranks. Snippets come from ``ts_headline``.

An encrypted store indexes nothing (``postgres/index.py``): search says it is off, and
recall finds nothing, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import SearchUnavailable
from ..base import IndexedMessage, SearchHit, query_words
from ..crypto import SEARCH_OFF, Cipher
from ..snippets import SNIPPET_TOKENS
from .index import CONFIG, fold

if TYPE_CHECKING:
    from .pool import Connection, Database

# Marks ts_headline puts around matches, swapped for the caller's highlight in Python, so
# no caller text ever becomes part of ts_headline's option syntax.
_START, _STOP = "\x02", "\x03"
_MARKS = f"StartSel={_START}, StopSel={_STOP}, ShortWord=0"
# A message of at most SNIPPET_TOKENS words is shown whole, a longer one as one fragment.
_WHOLE = f"{_MARKS}, HighlightAll=true"
_FRAGMENT = f"{_MARKS}, MaxWords={SNIPPET_TOKENS}, MinWords={SNIPPET_TOKENS // 2}, MaxFragments=1"

# Parameters: user, session (NULL: any), project (NULL: any), shared (true: leave out the
# sessions of projects whose memory is scoped), branches (false: the
# sessions' active lines only, as recall wants), words (folded), query (to_tsquery text
# finding the candidates), label (":A" to count only own words for idf, "" for any), wa,
# wb, wc (the weights of A, B and C in f), limit.
_RANKED = f"""
    WITH terms AS (
        SELECT DISTINCT v.lexeme FROM unnest(%(words)s::text[]) AS w (word),
            unnest(to_tsvector({CONFIG}, w.word)) AS v
    ),
    scope AS MATERIALIZED (
        SELECT m.item_id, m.doc, m.len, s.key, s.project,
            coalesce(p.memory = 'scoped', false) AS in_scoped FROM users u
        JOIN sessions s ON s.user_id = u.id JOIN items i ON i.session_id = s.id
        LEFT JOIN projects p ON p.user_id = s.user_id AND p.name = s.project
        JOIN messages m ON m.item_id = i.id WHERE u.name = %(user)s
            AND (%(branches)s OR i.branch = 0)
    ),
    stats AS (SELECT count(*)::float8 AS n, greatest(avg(len), 1)::float8 AS avgdl FROM scope),
    idf AS (
        SELECT t.lexeme, greatest(ln((st.n - count(sc.item_id) + 0.5)
            / (count(sc.item_id) + 0.5)), 1e-6) AS idf
        FROM terms t CROSS JOIN stats st
        LEFT JOIN scope sc ON sc.doc @@ (quote_literal(t.lexeme) || %(label)s)::tsquery
        GROUP BY t.lexeme, st.n
    ),
    hits AS (
        SELECT item_id, doc, len FROM scope WHERE doc @@ to_tsquery({CONFIG}, %(query)s)
            AND (%(session)s::text IS NULL OR key = %(session)s)
            AND (%(project)s::text IS NULL OR project = %(project)s)
            AND NOT (%(shared)s AND in_scoped)
    ),
    ranked AS (
        SELECT h.item_id, coalesce(sum(idf.idf * tf.f * 2.2
            / (tf.f + 1.2 * (0.25 + 0.75 * h.len / st.avgdl))), 0) AS score
        FROM hits h CROSS JOIN stats st
        LEFT JOIN LATERAL (
            SELECT v.lexeme, (SELECT sum(CASE x WHEN 'A' THEN %(wa)s WHEN 'B' THEN %(wb)s
                WHEN 'C' THEN %(wc)s ELSE 0 END) FROM unnest(v.weights) AS x) AS f
            FROM unnest(h.doc) v JOIN terms USING (lexeme)
        ) tf ON true
        LEFT JOIN idf ON idf.lexeme = tf.lexeme
        GROUP BY h.item_id ORDER BY score DESC, h.item_id DESC LIMIT %(limit)s
    )
"""
_FROM_RANKED = (
    " FROM ranked r JOIN messages m ON m.item_id = r.item_id JOIN items i ON i.id = m.item_id"
    " JOIN sessions s ON s.id = i.session_id"
)
# ts_headline re-reads each document, so it runs only for the rows that LIMIT kept.
_SEARCH = (
    _RANKED + " SELECT s.key, s.title, i.seq, i.id, m.role, i.created_at,"
    f" ts_headline({CONFIG}, m.text, to_tsquery({CONFIG}, %(query)s),"
    " CASE WHEN (SELECT count(*) FROM unnest(m.doc) v, unnest(v.weights) x WHERE x = 'A')"
    f" <= {SNIPPET_TOKENS} THEN %(whole)s ELSE %(fragment)s END), r.score, m.text, i.branch"
    + _FROM_RANKED
    + " ORDER BY r.score DESC, i.id DESC"
)
_MESSAGE_COLUMNS = "m.item_id, s.key, i.seq, m.role, i.created_at, m.text, m.prev1, m.prev2"
_MATCH = (
    _RANKED
    + f" SELECT {_MESSAGE_COLUMNS}, r.score"
    + _FROM_RANKED
    + " ORDER BY r.score DESC, i.id DESC"
)
_BY_ID = (
    f"SELECT {_MESSAGE_COLUMNS}, 0.0 FROM messages m JOIN items i ON i.id = m.item_id"
    " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
    " WHERE m.item_id = ANY(%s) AND u.name = %s AND (%s OR i.branch = 0)"
)

_NEAR = (
    f"SELECT DISTINCT {_MESSAGE_COLUMNS}, 0.0"
    " FROM unnest(%s::text[], %s::int[], %s::int[]) AS r (key, first, last)"
    " JOIN users u ON u.name = %s JOIN sessions s ON s.user_id = u.id AND s.key = r.key"
    " JOIN items i ON i.session_id = s.id AND i.branch = 0"
    " AND i.seq BETWEEN r.first AND r.last"
    " JOIN messages m ON m.item_id = i.id ORDER BY m.item_id"
)
# Counts at most ``limit`` items, so a long history costs no more than a short one.
_SHARED = " LEFT JOIN projects p ON p.user_id = s.user_id AND p.name = s.project"
_PROJECT = (
    " AND (%s::text IS NULL OR s.project = %s)"
    " AND NOT (%s AND coalesce(p.memory = 'scoped', false))"
)
_ITEM_COUNT = (
    "SELECT count(*) FROM (SELECT 1 FROM users u JOIN sessions s ON s.user_id = u.id"
    + _SHARED
    + " JOIN items i ON i.session_id = s.id AND i.branch = 0"
    " WHERE u.name = %s AND (%s::text IS NULL OR s.key = %s)" + _PROJECT + " LIMIT %s) x"
)
_ALL = (
    f"SELECT {_MESSAGE_COLUMNS}, 0.0 FROM users u JOIN sessions s ON s.user_id = u.id"
    + _SHARED
    + " JOIN items i ON i.session_id = s.id AND i.branch = 0"
    " JOIN messages m ON m.item_id = i.id"
    " WHERE u.name = %s AND (%s::text IS NULL OR s.key = %s)" + _PROJECT + " ORDER BY m.item_id"
)


def tsquery(words: Sequence[str], *, all_words: bool, own_text_only: bool) -> str:
    """A to_tsquery text for ``words``: each a quoted term, all of them or any of them.

    The words come from ``query_words`` (letters and digits only), and are quoted anyway.
    """
    label = ":A" if own_text_only else ""
    terms = ["'" + word.replace("'", "''") + "'" + label for word in words]
    return (" & " if all_words else " | ").join(terms)


class PostgresSearchMixin:
    """Search and recall queries, mixed into :class:`PostgresStore` (which provides ``_db``)."""

    _db: Database
    cipher: Cipher | None

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
        if self.cipher is not None:
            raise SearchUnavailable(SEARCH_OFF)
        words = [fold(word) for word in query_words(query)]
        if not words or limit <= 0:
            return []
        # All the words first, as a search box does; any of them if no message has all.
        modes = (True, False) if len(words) > 1 else (True,)
        params: dict[str, Any] = {
            "user": user,
            "session": session_id,
            "project": project,
            "shared": shared_only,
            "branches": True,
            "words": words,
            "label": ":A",
            "wa": 1.0,
            "wb": 0.0,
            "wc": 0.0,
            "limit": limit,
            "whole": _WHOLE,
            "fragment": _FRAGMENT,
        }

        def work(conn: Connection) -> list[tuple[Any, ...]]:
            for all_words in modes:
                params["query"] = tsquery(words, all_words=all_words, own_text_only=True)
                rows = conn.execute(_SEARCH, params).fetchall()
                if rows:
                    return rows
            return []

        hits = []
        for (
            key,
            title,
            seq,
            item_id,
            role,
            created_at,
            headline,
            score,
            text,
            branch,
        ) in self._db.read(work):
            snippet = _snippet(headline, text, highlight)
            hits.append(
                SearchHit(key, title, seq, item_id, role, created_at, snippet, score, branch)
            )
        return hits

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
        # Every word is searched for (PostgreSQL's GIN index has no cheap per-word counts
        # to judge them by), so keep_rarest changes nothing here.
        folded = [fold(word) for word in words]
        if not folded or limit <= 0 or self.cipher is not None:
            return []
        near, far = context_weights
        params = {
            "user": user,
            "session": session_id,
            "project": project,
            "shared": shared_only,
            "branches": False,
            "words": folded,
            "query": tsquery(folded, all_words=False, own_text_only=False),
            "label": "",
            "wa": 1.0,
            "wb": float(near),
            "wc": float(far),
            "limit": limit,
        }
        rows = self._db.read(lambda conn: conn.execute(_MATCH, params).fetchall())
        return [_message(row) for row in rows]

    def get_messages(
        self, user: str, item_ids: Sequence[int], *, branches: bool = False
    ) -> list[IndexedMessage]:
        if not item_ids:
            return []
        ids = [int(i) for i in item_ids]
        params = (ids, user, bool(branches))
        rows = self._db.read(lambda conn: conn.execute(_BY_ID, params).fetchall())
        return [_message(row) for row in rows]

    def messages_near(
        self, user: str, spans: Sequence[tuple[str, int, int]]
    ) -> list[IndexedMessage]:
        if not spans:
            return []
        keys = [key for key, _, _ in spans]
        firsts = [int(first) for _, first, _ in spans]
        lasts = [int(last) for _, _, last in spans]
        params = (keys, firsts, lasts, user)
        rows = self._db.read(lambda conn: conn.execute(_NEAR, params).fetchall())
        return [_message(row) for row in rows]

    def _all_messages(
        self,
        user: str,
        *,
        limit: int,
        session_id: str | None,
        project: str | None,
        shared_only: bool,
    ) -> list[IndexedMessage] | None:
        scope = (user, session_id, session_id, project, project, shared_only)

        def read(conn: Connection) -> list[Any] | None:
            counted = conn.execute(_ITEM_COUNT, (*scope, limit + 1)).fetchone()
            if counted is None or counted[0] > limit:
                return None
            return conn.execute(_ALL, scope).fetchall()

        rows = self._db.read(read)
        return None if rows is None else [_message(row) for row in rows]


def _snippet(headline: str, text: str, highlight: tuple[str, str]) -> str:
    """ts_headline's text with the caller's highlight, and "…" where it cut ``text``."""
    plain = headline.replace(_START, "").replace(_STOP, "")
    start, stop = highlight
    marked = headline.replace(_START, start).replace(_STOP, stop)
    if plain and not text.lstrip().startswith(plain):
        marked = "…" + marked
    if plain and not text.rstrip().endswith(plain):
        marked += "…"
    return marked


def _message(row: tuple[Any, ...]) -> IndexedMessage:
    item_id, session, seq, role, created_at, text, prev1, prev2, score = row
    previous = tuple(int(i) for i in (prev1, prev2) if i is not None)
    return IndexedMessage(item_id, session, seq, role, created_at, text, previous, float(score))
