"""The PostgreSQL store's full-text index of messages, written with every turn.

It mirrors the SQLite index (``sqlite/index.py``): one ``messages`` row per user or
assistant message, keyed by its item id, with its text, the texts of the two messages
before it and their ids. ``doc`` is a ``tsvector`` (GIN-indexed) whose lexemes are
weighted A for the message's own words and B and C for the two messages before it;
``len`` is its number of tokens, which bm25 needs (``postgres/search.py``). Rows go in
the same statement as their items, and go with them by ``ON DELETE CASCADE``.

Words are stemmed (Snowball English) but no stop word is dropped, and accents are folded
in Python before indexing and querying, as SQLite's ``remove_diacritics`` does.

An encrypted store (see ``crypto.py``) writes no rows here: they would hold the words.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..base import Item
from ..titles import message_text

if TYPE_CHECKING:
    from .pool import Connection

SEARCH_SCHEMA = (
    "CREATE TEXT SEARCH DICTIONARY memchat_stem (TEMPLATE = pg_catalog.snowball,"
    " Language = english)",
    "CREATE TEXT SEARCH CONFIGURATION memchat_search (COPY = pg_catalog.english)",
    "ALTER TEXT SEARCH CONFIGURATION memchat_search ALTER MAPPING FOR asciiword, asciihword,"
    " hword_asciipart, word, hword, hword_part WITH memchat_stem",
    """
    CREATE TABLE messages (
        item_id bigint PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        role text NOT NULL,
        text text NOT NULL,
        context1 text NOT NULL DEFAULT '',
        context2 text NOT NULL DEFAULT '',
        prev1 bigint,
        prev2 bigint,
        doc tsvector NOT NULL,
        len integer NOT NULL
    )
    """,
    "CREATE INDEX messages_doc ON messages USING gin (doc)",
    # The item id of the session's newest message, so a turn finds the messages before it
    # without a scan; kept by every write and delete of items.
    "ALTER TABLE sessions ADD COLUMN last_message bigint",
)

CONFIG = "'memchat_search'::regconfig"

# From rows (id, text, vec, ordered by w) to a message's context, document and length:
# vec is a message's own words; the document weighs them A, and the previous message's B
# and the one before's C. ts_filter(doc, '{a}') recovers a stored message's own words.
_CONTEXT = (
    "lag(id) OVER w AS p1, lag(id, 2) OVER w AS p2, lag(text) OVER w AS c1,"
    " lag(text, 2) OVER w AS c2, lag(vec) OVER w AS v1, lag(vec, 2) OVER w AS v2"
)
_DOC = (
    "setweight(vec, 'A') || setweight(coalesce(v1, ''::tsvector), 'B')"
    " || setweight(coalesce(v2, ''::tsvector), 'C')"
)


def _length(doc: str) -> str:
    """The number of tokens (positions) in the tsvector ``doc``."""
    return f"(SELECT coalesce(sum(cardinality(v.positions)), 0) FROM unnest({doc}) v)"


# The session's newest message after a turn: its last new one, else the one it had. Every
# statement that adds items sets it in the UPDATE of the session row it makes anyway.
SET_LAST_MESSAGE = (
    "last_message = coalesce((SELECT id FROM new WHERE text IS NOT NULL"
    " ORDER BY n DESC LIMIT 1), last_message)"
)


def insert_items_sql(turn: str) -> str:
    """One statement that inserts a turn's items and indexes its messages.

    ``turn`` is an UPDATE of the session row (``pk``) that sets ``SET_LAST_MESSAGE`` and
    returns (pk, seq, stamp), the turn the items go to. The parameters are
    ``message_params``' ``rows``, ``pk``, and whatever else ``turn`` binds. The item ids
    are drawn in order first, so the index rows can name them. The two messages before the
    turn are the session's ``last_message`` and the one before it, as the statement's
    snapshot has them: primary-key lookups, so their cost never depends on the session's
    length, nor on how stale the statistics behind a cached plan are.
    """
    return f"""
        WITH new AS MATERIALIZED (
            SELECT nextval('items_id_seq') AS id, r ->> 0 AS data, r ->> 1 AS role,
                   r ->> 2 AS text, r ->> 3 AS folded, n
            FROM json_array_elements(%(rows)s::json) WITH ORDINALITY AS u (r, n)
        ),
        t AS ({turn}),
        items_in AS (
            INSERT INTO items (id, session_id, seq, created_at, data)
            SELECT new.id, t.pk, t.seq, t.stamp, new.data FROM t CROSS JOIN new ORDER BY new.n
        ),
        last AS (
            SELECT item_id, text, doc, prev1 FROM messages
            WHERE item_id = (SELECT last_message FROM sessions WHERE id = %(pk)s)
        ),
        before AS (
            SELECT item_id AS id, text, ts_filter(doc, '{{a}}') AS vec, 2 AS k FROM last
            UNION ALL
            SELECT item_id, text, ts_filter(doc, '{{a}}'), 1 FROM messages
            WHERE item_id = (SELECT prev1 FROM last)
        ),
        ordered AS (
            SELECT id, role, text, fresh, vec, {_CONTEXT} FROM (
                SELECT id, NULL::text AS role, text, false AS fresh, k, vec FROM before
                UNION ALL
                SELECT id, role, text, true, n, to_tsvector({CONFIG}, coalesce(folded, text))
                FROM new WHERE text IS NOT NULL
            ) m WINDOW w AS (ORDER BY fresh, k)
        ),
        docs AS (SELECT *, {_DOC} AS doc FROM ordered WHERE fresh)
        , messages_in AS (
            INSERT INTO messages (item_id, role, text, context1, context2, prev1, prev2, doc, len)
            SELECT id, role, text, coalesce(c1, ''), coalesce(c2, ''), p1, p2, doc, {_length("doc")}
            FROM docs WHERE EXISTS (SELECT 1 FROM t)
        )
        SELECT seq FROM t
    """


def fold(text: str) -> str:
    """``text`` without accents ("café" -> "cafe"), as the index and queries see it."""
    if text.isascii():
        return text  # nothing to fold, and most text is ASCII: skip the per-character pass
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def message_params(items: Sequence[Item], data: Sequence[str], *, index: bool) -> dict[str, str]:
    """The ``rows`` ``insert_items_sql`` binds: each item's stored text and its message text.

    They go as one JSON array of [data, role, text, folded] rows: psycopg would escape
    every quote of the items' JSON in Python to send them as text arrays, while
    ``json.dumps`` does it in C. Without ``index`` (an encrypted store, whose ``data`` is
    sealed) no row has a message text, so the statement writes no index rows.
    """
    rows: list[tuple[str, str | None, str | None, str | None]] = []
    for item, json_text in zip(items, data, strict=True):
        found = message_text(item) if index else None
        role, text = found if found else (None, None)
        if text is not None:
            # PostgreSQL text cannot hold NUL; the item's JSON keeps it (escaped).
            text = text.replace("\x00", "")
        plain = fold(text) if text else None
        rows.append((json_text, role, text, plain if plain != text else None))
    return {"rows": json.dumps(rows, ensure_ascii=False)}


def find_last_message(conn: Connection, session_pk: int) -> None:
    """Set the session's ``last_message`` anew, after some of its items were deleted."""
    conn.execute(
        "UPDATE sessions SET last_message = (SELECT m.item_id FROM items i"
        " JOIN messages m ON m.item_id = i.id WHERE i.session_id = %s AND i.branch = 0"
        " ORDER BY i.seq DESC, i.id DESC LIMIT 1) WHERE id = %s",
        (session_pk, session_pk),
    )


def reindex_context(conn: Connection, session_pk: int) -> None:
    """Point each of a session's messages at the messages really before it, after a delete."""
    conn.execute(
        f"""
        WITH ordered AS (
            SELECT id, vec, {_CONTEXT} FROM (
                SELECT m.item_id AS id, m.text, ts_filter(m.doc, '{{a}}') AS vec, i.seq
                FROM messages m JOIN items i ON i.id = m.item_id WHERE i.session_id = %s
            ) m WINDOW w AS (ORDER BY seq, id)
        ), docs AS (SELECT *, {_DOC} AS doc FROM ordered)
        UPDATE messages SET prev1 = p1, prev2 = p2, context1 = coalesce(c1, ''),
            context2 = coalesce(c2, ''), doc = docs.doc, len = {_length("docs.doc")}
        FROM docs
        WHERE messages.item_id = docs.id
            AND (messages.prev1, messages.prev2) IS DISTINCT FROM (p1, p2)
        """,
        (session_pk,),
    )
