"""The SQLite store's full-text index of messages: kept in step with items, and searched.

``items_fts`` is an FTS5 table with one row per user or assistant message, keyed by the
item's id (its rowid). Besides the message's text it keeps the text of the message before
it and of the one before that (``context1``, ``context2``) and their item ids, so a reply
is found by the words of the question it answers. Only earlier messages are copied
forward: a turn write adds rows and never rewrites old ones.

The index is derived data and is written after the items, not with them: before every
search ``catch_up`` indexes the items added since ``search_state.indexed_through``, in one
transaction that also moves that mark, so the index and its mark never disagree. A turn
write therefore stays one table, one index and the session row (an FTS5 segment per turn
would double its pages), and the chat's recall, which searches every turn, keeps the index
current. Rows are removed by an AFTER DELETE trigger on ``items``, which also fires for
items deleted by a cascade (a session, a user), and lowers the mark if the newest items
went, since SQLite then reuses their ids. Every delete path removes a session's latest
items or all of them, so no message keeps a deleted one's text as context; ``prune``,
which removes the earliest, calls ``reindex_context`` for the sessions it touched.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import CorruptData, MemchatError
from .base import IndexedMessage, Item, SearchHit, query_words
from .crypto import SEARCH_OFF, Cipher, unseal
from .titles import item_text

if TYPE_CHECKING:
    from .blind import BlindTerms

TOKENIZER = "porter unicode61 remove_diacritics 2"

SEARCH_SCHEMA = (
    """
    CREATE VIRTUAL TABLE items_fts USING fts5(
        text, context1, context2, role UNINDEXED, prev1 UNINDEXED, prev2 UNINDEXED,
        tokenize = '"""
    + TOKENIZER
    + """'
    )
    """,
    # How many messages hold each (stemmed) term, for leaving out terms too common to
    # be worth their cost (see ``_affordable``).
    "CREATE VIRTUAL TABLE items_fts_terms USING fts5vocab(items_fts, 'row')",
    "CREATE TABLE search_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER)",
    "INSERT INTO search_state (id, indexed_through) VALUES (1, 0)",
    """
    CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        DELETE FROM items_fts WHERE rowid = old.id;
        UPDATE search_state SET indexed_through = (SELECT coalesce(max(id), 0) FROM items)
            WHERE indexed_through > (SELECT coalesce(max(id), 0) FROM items);
    END
    """,
)
# The index's mode (see ``index_mode``), its mark, and the newest item's id.
_STATE = "SELECT mode, indexed_through, (SELECT coalesce(max(id), 0) FROM items) FROM search_state"

SNIPPET_TOKENS = 24

# Recall ranks every message that holds one of its words, so a word in tens of thousands
# of messages (in a very long history) would make each turn slow while adding little to
# the ranking. Words in more messages than this are left out of recall's query; if every
# word is that common, the rarest is kept as long as it is under the second limit.
MAX_TERM_MESSAGES = 2000
MAX_RAREST_TERM_MESSAGES = 8000
# Counting a word's messages reads its whole list of them, so the counts are kept and
# only redone once the index has grown by this share (they only decide what is too
# common to search for, where a few percent do not matter) or holds this many words.
RECOUNT_GROWTH = 0.05
MAX_COUNTED_WORDS = 10_000
# Decrypted texts kept for a blind index's recalls, of messages sealed in at most so many
# characters: at most about 100 MB.
MAX_OPENED_TEXTS = 20_000
MAX_OPENED_CHARS = 4000

# CROSS JOIN keeps items (and its index on session_id, seq, id) as the outer loop, so
# finding a session's last messages never scans the whole full-text table.
_LAST_MESSAGES = (
    "SELECT items_fts.rowid, items_fts.text FROM items CROSS JOIN items_fts"
    " ON items_fts.rowid = items.id WHERE items.session_id = ?"
    " ORDER BY items.seq DESC, items.id DESC LIMIT 2"
)
_SESSION_MESSAGES = (
    "SELECT items_fts.rowid, items_fts.text, items_fts.prev1, items_fts.prev2"
    " FROM items CROSS JOIN items_fts ON items_fts.rowid = items.id"
    " WHERE items.session_id = ? ORDER BY items.seq, items.id"
)
_INSERT = (
    "INSERT INTO items_fts (rowid, text, context1, context2, role, prev1, prev2)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The user (and session) filters are bound values; NULL for the session means any.
_SCOPE = (
    " JOIN items i ON i.id = items_fts.rowid JOIN sessions s ON s.id = i.session_id"
    " JOIN users u ON u.id = s.user_id"
    " WHERE items_fts MATCH ? AND u.name = ? AND (? IS NULL OR s.key = ?)"
)
_SEARCH = (
    "SELECT s.key, s.title, i.seq, i.id, items_fts.role, i.created_at,"
    " snippet(items_fts, 0, ?, ?, '…', ?), -bm25(items_fts, 1.0, 0.0, 0.0) AS score"
    " FROM items_fts" + _SCOPE + " ORDER BY score DESC, i.id DESC LIMIT ?"
)
# A blind index holds hashes, so the snippet is cut from the item, decrypted, in Python.
_SEARCH_BLIND = (
    "SELECT s.key, s.title, i.seq, i.id, items_fts.role, i.created_at,"
    " i.data, -bm25(items_fts, 1.0, 0.0, 0.0) AS score"
    " FROM items_fts" + _SCOPE + " ORDER BY score DESC, i.id DESC LIMIT ?"
)
_ITEM_DATA = "SELECT i.id, i.data FROM json_each(?) ids CROSS JOIN items i ON i.id = ids.value"
# A message's indexed columns, read straight from FTS5's own content table
# (``items_fts_content``: id, then c0... in the order of SEARCH_SCHEMA's columns, part of
# FTS5's file format). Looking rows up through the virtual table instead cost four times as
# much, a tenth of a recall in a long history.
_MESSAGE_COLUMNS = "c.id, s.key, i.seq, c.c3 AS role, i.created_at, c.c0 AS text, c.c4, c.c5"
# Ranks first and reads the texts of the best ``limit`` matches only: sorting every match
# with its text cost a fifth of the query in a long history.
_MATCH = (
    f"SELECT {_MESSAGE_COLUMNS}, m.score FROM"
    " (SELECT i.id, -bm25(items_fts, 1.0, ?, ?) AS score"
    "  FROM items_fts" + _SCOPE + " ORDER BY score DESC, i.id DESC LIMIT ?) m"
    " CROSS JOIN items i ON i.id = m.id CROSS JOIN items_fts_content c ON c.id = i.id"
    " JOIN sessions s ON s.id = i.session_id ORDER BY m.score DESC, m.id DESC"
)
# The ids come as one bound JSON array; CROSS JOIN looks each one up rather than scanning
# all of the user's items.
_BY_ID = (
    f"SELECT {_MESSAGE_COLUMNS}, 0.0 FROM json_each(?) ids"
    " CROSS JOIN items i ON i.id = ids.value CROSS JOIN items_fts_content c ON c.id = i.id"
    " JOIN sessions s ON s.id = i.session_id JOIN users u ON u.id = s.user_id"
    " WHERE u.name = ?"
)


def message_text(item: Item) -> tuple[str, str] | None:
    """The role and text of a user or assistant message item, or None for any other item."""
    if not isinstance(item, dict) or item.get("type") not in (None, "message"):
        return None
    role = item.get("role")
    if role not in ("user", "assistant"):
        return None
    text = item_text(item).strip()
    return (str(role), text) if text else None


IndexText = Callable[[sqlite3.Connection, str], str]
"""What the index holds for a message's text: the text, or a blind index's hashes."""


def plain_text(conn: sqlite3.Connection, text: str) -> str:
    """A plain index holds the text itself."""
    return text


def index_messages(
    conn: sqlite3.Connection,
    session_pk: int,
    rows: Iterable[tuple[int, Item]],
    index_text: IndexText = plain_text,
) -> None:
    """Add the messages among ``rows`` (item id, item), just written to a session, to the index."""
    docs = [(item_id, found) for item_id, item in rows if (found := message_text(item))]
    if not docs:
        return
    before: list[tuple[int, str]] = conn.execute(_LAST_MESSAGES, (session_pk,)).fetchall()
    values = []
    for item_id, (role, text) in docs:
        indexed = index_text(conn, text)
        values.append((item_id, indexed, *_context(before), role, *_ids(before)))
        before = [(item_id, indexed), *before[:1]]
    conn.executemany(_INSERT, values)


def catch_up(
    conn: sqlite3.Connection,
    indexed_through: int,
    open_data: Callable[[str], str],
    index_text: IndexText = plain_text,
) -> None:
    """Index every item after ``indexed_through``, session by session, in order.

    ``open_data`` turns a stored item into its JSON (decrypting it in an encrypted store).
    """
    # By id, which is a session's (seq, id) order too, so the rowid range is the plan: an
    # ORDER BY on the session index would scan every item.
    rows = conn.execute(
        "SELECT session_id, id, data FROM items WHERE id > ? ORDER BY id", (indexed_through,)
    ).fetchall()
    by_session: dict[int, list[tuple[int, Item]]] = {}
    for session_pk, item_id, data in rows:
        by_session.setdefault(session_pk, []).append((item_id, _load(item_id, open_data(data))))
    for session_pk, items in by_session.items():
        index_messages(conn, session_pk, items, index_text)
    conn.execute(
        "UPDATE search_state SET indexed_through = (SELECT coalesce(max(id), 0) FROM items)"
    )


def reindex_context(conn: sqlite3.Connection, session_pk: int) -> None:
    """Point each of a session's messages at the messages really before it, after a delete."""
    before: list[tuple[int, str]] = []
    for item_id, text, prev1, prev2 in conn.execute(_SESSION_MESSAGES, (session_pk,)).fetchall():
        if (prev1, prev2) != _ids(before):
            conn.execute(
                "UPDATE items_fts SET context1 = ?, context2 = ?, prev1 = ?, prev2 = ?"
                " WHERE rowid = ?",
                (*_context(before), *_ids(before), item_id),
            )
        before = [(item_id, text), *before[:1]]


def match_expression(words: Sequence[str], *, all_words: bool, column: str | None = None) -> str:
    """An FTS5 query matching ``words`` (each a quoted term), all of them or any."""
    terms = ['"' + word.replace('"', '""') + '"' for word in words]
    expression = (" " if all_words else " OR ").join(terms)
    return f"{{{column}}} : ({expression})" if column else expression


class SQLiteSearchMixin:
    """Search and recall queries, mixed into :class:`SQLiteStore` (which provides the plumbing)."""

    if TYPE_CHECKING:
        _lock: threading.RLock
        _conn: sqlite3.Connection
        cipher: Cipher | None
        # With a cipher: the keyed index (MEMCHAT_ENCRYPTED_SEARCH), or None for no index.
        blind: BlindTerms | None
        # Decrypted message texts by their sealed form (see ``_item_text``).
        _opened_texts: dict[str, str]
        # Words' message counts (see RECOUNT_GROWTH) and the index mark they were made at.
        _word_messages: dict[str, int]
        _counted_through: int

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def index_mode(self) -> str:
        """What the index should be: "plain", "blind:<key fingerprint>", or "off" (encrypted,
        no index). A store opened in another mode rebuilds it at the next search."""
        if self.cipher is None:
            return "plain"
        return f"blind:{self.blind.fingerprint}" if self.blind is not None else "off"

    def sync_search_index(self) -> None:
        """Index the messages written since the last search (cheap when there are none)."""
        wanted = self.index_mode()
        with self._lock:
            with self._read() as conn:
                mode, through, newest = conn.execute(_STATE).fetchone()
            if mode == wanted and (wanted == "off" or through >= newest):
                return
            # The index can be rebuilt from the items, so its commit need not wait for the
            # disk: synchronous=NORMAL. A crash loses index and mark together, and the next
            # search redoes them.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            try:
                with self._write() as conn:
                    mode, through, newest = conn.execute(_STATE).fetchone()
                    if mode != wanted:
                        # Another mode's rows (plaintext words in a now encrypted store,
                        # hashes under another key) go; the items are indexed anew.
                        conn.execute("DELETE FROM items_fts")
                        conn.execute(
                            "UPDATE search_state SET mode = ?, indexed_through = 0", (wanted,)
                        )
                        self._word_messages.clear()
                        through = 0
                    if wanted != "off" and through < newest:
                        catch_up(conn, through, self._open_data, self._index_text)
            finally:
                self._conn.execute("PRAGMA synchronous = FULL")

    def _open_data(self, data: str) -> str:
        return unseal(self.cipher, data)

    def _index_text(self, conn: sqlite3.Connection, text: str) -> str:
        return text if self.blind is None else self.blind.index_text(conn, text)

    def _searchable(self) -> BlindTerms | None:
        """The blind index's terms if there is one; an error if the store keeps no index."""
        if self.cipher is not None and self.blind is None:
            self.sync_search_index()  # drops what an earlier mode left in the index
            raise MemchatError(f"{SEARCH_OFF} (MEMCHAT_ENCRYPTED_SEARCH=true keeps a keyed one)")
        return self.blind

    def search(
        self,
        user: str,
        query: str,
        *,
        limit: int = 20,
        session_id: str | None = None,
        highlight: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        blind = self._searchable()
        words = query_words(query)
        if not words or limit <= 0:
            return []
        self.sync_search_index()
        scope = (user, session_id, session_id, limit)
        with self._read() as conn:
            terms = words if blind is None else blind.query_words(conn, words)
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
                    for key, sealed, seq, item_id, role, created_at, data, score in rows:
                        title = None if sealed is None else unseal(self.cipher, sealed)
                        snippet = self._snippet(conn, blind, data, words, highlight)
                        hits.append(
                            SearchHit(key, title, seq, item_id, role, created_at, snippet, score)
                        )
                if hits:
                    return hits
        return []

    def _snippet(
        self,
        conn: sqlite3.Connection,
        blind: BlindTerms,
        data: str,
        words: list[str],
        highlight: tuple[str, str],
    ) -> str:
        return blind.snippet(conn, self._item_text(data), words, highlight, SNIPPET_TOKENS)

    def match_messages(
        self,
        user: str,
        words: Sequence[str],
        *,
        limit: int,
        session_id: str | None = None,
        context_weights: tuple[float, float] = (0.5, 0.3),
        keep_rarest: bool = True,
    ) -> list[IndexedMessage]:
        self.sync_search_index()
        if not words or limit <= 0 or self.index_mode() == "off":
            return []
        with self._read() as conn:
            if self.blind is not None:
                words = self.blind.query_words(conn, words)
            words = self._affordable(conn, words, keep_rarest=keep_rarest)
            if not words:
                return []
            expression = match_expression(words, all_words=False)
            rows = conn.execute(
                _MATCH, (*context_weights, expression, user, session_id, session_id, limit)
            ).fetchall()
            return self._with_texts(conn, [_message(row) for row in rows])

    def _affordable(
        self, conn: sqlite3.Connection, words: Sequence[str], *, keep_rarest: bool
    ) -> list[str]:
        """``words`` without those in too many messages (see MAX_TERM_MESSAGES)."""
        frequency = self._message_counts(conn, words)
        kept = [w for w in words if frequency.get(w, 0) <= MAX_TERM_MESSAGES]
        if kept or not frequency or not keep_rarest:
            return kept
        rarest = min(words, key=lambda w: frequency.get(w, 0))
        return [rarest] if frequency.get(rarest, 0) <= MAX_RAREST_TERM_MESSAGES else []

    def _message_counts(self, conn: sqlite3.Connection, words: Sequence[str]) -> dict[str, int]:
        """How many messages hold each of ``words`` (a word of several terms: its rarest)."""
        (mark,) = conn.execute("SELECT indexed_through FROM search_state").fetchone()
        grown = mark > self._counted_through * (1 + RECOUNT_GROWTH)
        if grown or mark < self._counted_through or len(self._word_messages) > MAX_COUNTED_WORDS:
            self._word_messages.clear()
            self._counted_through = mark
        new = [word for word in dict.fromkeys(words) if word not in self._word_messages]
        if new:
            # The index holds stemmed terms; a scratch FTS5 table with the same tokenizer
            # turns each word into its terms.
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words"
                f" USING fts5(w, tokenize = '{TOKENIZER}')"
            )
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms"
                " USING fts5vocab(temp, query_words, 'instance')"
            )
            conn.execute("DELETE FROM temp.query_words")
            conn.executemany(
                "INSERT INTO temp.query_words (rowid, w) VALUES (?, ?)", list(enumerate(new))
            )
            counts = conn.execute(
                "SELECT q.doc, min(coalesce(t.doc, 0)) FROM temp.query_terms q"
                " LEFT JOIN items_fts_terms t ON t.term = q.term GROUP BY q.doc"
            ).fetchall()
            self._word_messages.update((new[index], messages) for index, messages in counts)
        # A word with no terms (all its characters dropped by the tokenizer) is in none.
        return {word: self._word_messages.get(word, 0) for word in words}

    def get_messages(self, user: str, item_ids: Sequence[int]) -> list[IndexedMessage]:
        if not item_ids:
            return []
        self.sync_search_index()
        with self._read() as conn:
            rows = conn.execute(_BY_ID, (json.dumps([int(i) for i in item_ids]), user)).fetchall()
            return self._with_texts(conn, [_message(row) for row in rows])

    def _with_texts(
        self, conn: sqlite3.Connection, messages: list[IndexedMessage]
    ) -> list[IndexedMessage]:
        """``messages``, whose text a blind index holds as hashes, with their real text."""
        if self.blind is None or not messages:
            return messages
        ids = json.dumps([m.item_id for m in messages])
        texts = {
            item_id: self._item_text(data) for item_id, data in conn.execute(_ITEM_DATA, (ids,))
        }
        return [replace(m, text=texts[m.item_id]) for m in messages]

    def _item_text(self, data: str) -> str:
        """The message text of a stored (sealed) item.

        Recall reads the same few hundred messages turn after turn, and decrypting them
        was most of its time, so texts are kept by their sealed form (unique per item:
        Fernet seals with a random IV).
        """
        text = self._opened_texts.get(data)
        if text is None:
            found = message_text(json.loads(unseal(self.cipher, data)))
            text = found[1] if found else ""
            if len(data) <= MAX_OPENED_CHARS:
                if len(self._opened_texts) >= MAX_OPENED_TEXTS:
                    self._opened_texts.clear()
                self._opened_texts[data] = text
        return text


def _context(before: list[tuple[int, str]]) -> tuple[str, str]:
    texts = [text for _, text in before]
    return (texts[0] if texts else "", texts[1] if len(texts) > 1 else "")


def _ids(before: list[tuple[int, str]]) -> tuple[int | None, int | None]:
    ids = [item_id for item_id, _ in before]
    return (ids[0] if ids else None, ids[1] if len(ids) > 1 else None)


def _message(row: tuple[Any, ...]) -> IndexedMessage:
    item_id, session, seq, role, created_at, text, prev1, prev2, score = row
    previous = tuple(int(i) for i in (prev1, prev2) if i is not None)
    return IndexedMessage(item_id, session, seq, role, created_at, text, previous, float(score))


def _load(item_id: int, data: str) -> Item:
    try:
        item = json.loads(data)
    except ValueError as exc:
        raise CorruptData(f"item {item_id} is corrupt ({exc}); cannot index it for search") from exc
    return item  # type: ignore[no-any-return]
