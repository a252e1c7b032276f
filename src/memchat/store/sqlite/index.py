"""The SQLite store's full-text index of messages, kept in step with the items.

``items_fts`` is an FTS5 table with one row per user or assistant message, keyed by the
item's id (its rowid). Besides the message's text it keeps the text of the message before
it and of the one before that (``context1``, ``context2``) and their item ids, so a reply
is found by the words of the question it answers, and its user (``owner``). Only
earlier messages are copied forward: a turn write adds rows and never rewrites old ones.

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

An encrypted store indexes keyed hashes of the words instead (``sqlite/blind.py``), or nothing;
``search_state.mode`` says which, and ``sqlite/search.py`` rebuilds the index when the
store is opened in another mode.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ...errors import CorruptData, SearchUnavailable
from ..crypto import SEARCH_OFF, Cipher, unseal
from ..records import IndexedMessage, Item
from ..titles import message_text

if TYPE_CHECKING:
    from .blind import BlindTerms
    from .database import Database
    from .stats import MessageCounts

TOKENIZER = "porter unicode61 remove_diacritics 2"

# The index as migration 0002 made it; migration 0008 replaced it with OWNED_SCHEMA.
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
    # be worth their cost (see ``sqlite/search.py``).
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
# Each row also names its user (``owner``: "u" and the user's id, an indexed column no
# query weighs), so a search matches the user's own messages inside FTS5, and recall can
# count how many of them hold a word (``sqlite/stats.py``): what one user writes never
# changes what another's recall finds. The next search indexes every item anew.
OWNED_SCHEMA = (
    "DROP TRIGGER items_fts_delete",
    "DROP TABLE items_fts_terms",
    "DROP TABLE items_fts",
    """
    CREATE VIRTUAL TABLE items_fts USING fts5(
        text, context1, context2, role UNINDEXED, prev1 UNINDEXED, prev2 UNINDEXED, owner,
        tokenize = '"""
    + TOKENIZER
    + """'
    )
    """,
    SEARCH_SCHEMA[1],
    SEARCH_SCHEMA[4],
    "UPDATE search_state SET indexed_through = 0",
)
# bm25 weights of every column after ``text`` (context1, context2, then the unindexed
# columns and ``owner``, which never count).
OTHER_COLUMNS = 5


def owner_token(user_id: int) -> str:
    """The ``owner`` column's value for a user's messages."""
    return f"u{user_id}"


# The index's mode (see ``SQLiteSearchMixin.index_mode``), its mark, the newest item's id.
STATE = "SELECT mode, indexed_through, (SELECT coalesce(max(id), 0) FROM items) FROM search_state"


# CROSS JOIN keeps items (and its index on session_id, seq, id) as the outer loop, so
# finding a session's last messages never scans the whole full-text table.
# The last two on the active line and on the branch, each read backwards along the index
# (session_id, branch, seq, id), whose newest two are the messages before.
_LAST_ON = (
    "SELECT * FROM (SELECT items_fts.rowid, items_fts.text, items.seq, items.id FROM items"
    " CROSS JOIN items_fts ON items_fts.rowid = items.id WHERE items.session_id = ?"
    " AND items.branch = ? AND items.seq < ? ORDER BY items.seq DESC, items.id DESC LIMIT 2)"
)
_LAST_MESSAGES = (
    f"SELECT rowid, text FROM ({_LAST_ON} UNION ALL {_LAST_ON}) ORDER BY seq DESC, id DESC LIMIT 2"
)
_SESSION_MESSAGES = (
    "SELECT items_fts.rowid, items_fts.text, items_fts.prev1, items_fts.prev2"
    " FROM items CROSS JOIN items_fts ON items_fts.rowid = items.id"
    " WHERE items.session_id = ? ORDER BY items.seq, items.id"
)
_INSERT = (
    "INSERT INTO items_fts (rowid, text, context1, context2, role, prev1, prev2, owner)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
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
    line: tuple[int, int] = (0, 1 << 62),
) -> None:
    """Add the messages among ``rows`` (item id, item), just written to a session, to the index.

    ``line`` is the branch they are on and the seq of the first (``store/tree.py``): the
    messages before them are looked for on that branch and the active line.
    """
    docs = [(item_id, found) for item_id, item in rows if (found := message_text(item))]
    if not docs:
        return
    branch, first = line
    # On the active line, the second half finds nothing: no branch is -1.
    other = branch or -1
    before: list[tuple[int, str]] = conn.execute(
        _LAST_MESSAGES, (session_pk, 0, first, session_pk, other, first)
    ).fetchall()
    (user_id,) = conn.execute("SELECT user_id FROM sessions WHERE id = ?", (session_pk,)).fetchone()
    owner = owner_token(user_id)
    values = []
    for item_id, (role, text) in docs:
        indexed = index_text(conn, text)
        values.append((item_id, indexed, *_context(before), role, *_ids(before), owner))
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
        "SELECT session_id, branch, seq, id, data FROM items WHERE id > ? ORDER BY id",
        (indexed_through,),
    ).fetchall()
    # A message's context is the messages before it on its own line: by session and branch.
    by_line: dict[tuple[int, int], list[tuple[int, Item]]] = {}
    first: dict[tuple[int, int], int] = {}
    for session_pk, branch, seq, item_id, data in rows:
        item = _load(item_id, open_data(data))
        by_line.setdefault((session_pk, branch), []).append((item_id, item))
        first.setdefault((session_pk, branch), seq)
    for (session_pk, branch), items in by_line.items():
        index_messages(conn, session_pk, items, index_text, (branch, first[session_pk, branch]))
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


def _context(before: list[tuple[int, str]]) -> tuple[str, str]:
    texts = [text for _, text in before]
    return (texts[0] if texts else "", texts[1] if len(texts) > 1 else "")


def _ids(before: list[tuple[int, str]]) -> tuple[int | None, int | None]:
    ids = [item_id for item_id, _ in before]
    return (ids[0] if ids else None, ids[1] if len(ids) > 1 else None)


def _load(item_id: int, data: str) -> Item:
    try:
        item = json.loads(data)
    except ValueError as exc:
        raise CorruptData(f"item {item_id} is corrupt ({exc}); cannot index it for search") from exc
    return item  # type: ignore[no-any-return]


# Decrypted texts kept for a blind index's recalls, of messages sealed in at most so many
# characters: at most about 100 MB.
MAX_OPENED_TEXTS = 20_000
MAX_OPENED_CHARS = 4000
_ITEM_DATA = "SELECT i.id, i.data FROM json_each(?) ids CROSS JOIN items i ON i.id = ids.value"


class SQLiteIndexMixin:
    """The index's upkeep, mixed into :class:`SQLiteStore`: brought up to date before a
    search, in the mode the store was opened in, and a blind index's texts decrypted."""

    _db: Database
    _lock: threading.RLock
    _conn: sqlite3.Connection
    cipher: Cipher | None
    # With a cipher: the keyed index (MEMCHAT_ENCRYPTED_SEARCH), or None for no index.
    blind: BlindTerms | None
    # Decrypted message texts by their sealed form (see ``_item_text``).
    _opened_texts: dict[str, str]
    # The table's and each user's message counts, for recall's idf.
    _counts: MessageCounts

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
            mode, through, newest = self._db.read(lambda conn: conn.execute(STATE).fetchone())
            if mode == wanted and (wanted == "off" or through >= newest):
                return
            # The index can be rebuilt from the items, so its commit need not wait for the
            # disk: synchronous=NORMAL. A crash loses index and mark together, and the next
            # search redoes them.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            try:
                self._db.write(lambda conn: self._catch_up(conn, wanted))
            finally:
                self._conn.execute("PRAGMA synchronous = FULL")

    def _catch_up(self, conn: sqlite3.Connection, wanted: str) -> None:
        mode, through, newest = conn.execute(STATE).fetchone()
        if mode != wanted:
            # Another mode's rows (plaintext words in a now encrypted store, hashes under
            # another key) go; the items are indexed anew.
            conn.execute("DELETE FROM items_fts")
            conn.execute("UPDATE search_state SET mode = ?, indexed_through = 0", (wanted,))
            self._counts.clear()
            through = 0
        if wanted != "off" and through < newest:
            catch_up(conn, through, self._open_data, self._index_text)

    def _open_data(self, data: str) -> str:
        return unseal(self.cipher, data)

    def _index_text(self, conn: sqlite3.Connection, text: str) -> str:
        return text if self.blind is None else self.blind.index_text(conn, text)

    def _searchable(self) -> BlindTerms | None:
        """The blind index's terms if there is one; an error if the store keeps no index."""
        if self.cipher is not None and self.blind is None:
            self.sync_search_index()  # drops what an earlier mode left in the index
            raise SearchUnavailable(
                f"{SEARCH_OFF} (MEMCHAT_ENCRYPTED_SEARCH=true keeps a keyed one)"
            )
        return self.blind

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
