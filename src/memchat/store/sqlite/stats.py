"""Recall's bm25 on SQLite with each user's own word statistics.

FTS5's ``bm25()`` weighs a word by how rare it is in the whole table, so on a shared
database one user who writes "passport" a thousand times would make it a common word
for everybody, and another user's "My passport number is XK42QZ" would stop being
recalled. Recall therefore asks FTS5 one word at a time, inside the user's own rows
(``owner``, see ``sqlite/index.py``): a one-word bm25 is that word's inverse document
frequency times its weight in the message, so replacing the table's frequency with the
user's gives bm25 over the user's messages alone:

    score = sum over words w of  bm25_w(message) * idf_user(w) / idf_table(w)

with idf(w) = ln((N - n + 0.5) / (n + 0.5)) as FTS5 computes it (at least 1e-6), N the
messages and n those holding w. Only the average message length, which scales the
weight, stays the table's: it moves every message of a user alike. The PostgreSQL
backend computes the same bm25 in SQL (``postgres/search.py``).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from .index import TOKENIZER, owner_token

# Counts are kept and redone only once the index has grown by this share of them.
RECOUNT_GROWTH = 0.05
MAX_KEPT_USERS = 1000
MAX_KEPT_WORDS = 20_000


def owner_filter(conn: sqlite3.Connection, user: str) -> str | None:
    """An FTS5 expression matching the user's rows, or None for an unknown user."""
    found = conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
    return None if found is None else '{owner} : "' + owner_token(found[0]) + '"'


def idf(messages: int, holding: int) -> float:
    """FTS5's inverse document frequency of a word held by ``holding`` of ``messages``.

    ``messages`` may be a count kept from a little earlier than ``holding``'s, so it is
    taken as at least ``holding``.
    """
    messages = max(messages, holding)
    return max(math.log((messages - holding + 0.5) / (holding + 0.5)), 1e-6)


@dataclass
class MessageCounts:
    """How many messages the table and each user's rows hold, recounted as the index grows."""

    _table: tuple[int, int] = (0, -1)  # (messages, index mark when counted)
    _users: dict[str, tuple[int, int]] = field(default_factory=dict)
    _words: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    # The whole table's count of each word, and the index mark they were made at.
    _table_words: dict[str, int] = field(default_factory=dict)
    _table_words_at: int = 0

    def clear(self) -> None:
        """Forget every count (the index was rebuilt)."""
        self._table = (0, -1)
        self._users.clear()
        self._words.clear()
        self._table_words.clear()

    def table_words(
        self, conn: sqlite3.Connection, words: Sequence[str], mark: int
    ) -> dict[str, int]:
        """How many rows of the whole table hold each word (a word of several terms: its
        rarest), from FTS5's own term counts; redone once the index grew by a twentieth."""
        grown = mark > self._table_words_at * (1 + RECOUNT_GROWTH)
        if grown or mark < self._table_words_at or len(self._table_words) > MAX_KEPT_WORDS:
            self._table_words.clear()
            self._table_words_at = mark
        new = [word for word in dict.fromkeys(words) if word not in self._table_words]
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
            self._table_words.update((new[index], held) for index, held in counts)
        # A word with no terms (all its characters dropped by the tokenizer) is in none.
        return {word: self._table_words.get(word, 0) for word in words}

    def table(self, conn: sqlite3.Connection, mark: int) -> int:
        """Rows in the whole index (FTS5's N)."""
        count, counted_at = self._table
        if counted_at < 0 or mark < counted_at or mark - counted_at > RECOUNT_GROWTH * count:
            (count,) = conn.execute("SELECT count(*) FROM items_fts_docsize").fetchone()
            self._table = (count, mark)
        return count

    def user(self, conn: sqlite3.Connection, owner: str, mark: int) -> int:
        """Rows of one user (the user's N): it cannot have grown more than the index."""
        count, counted_at = self._users.get(owner, (0, -1))
        if counted_at < 0 or mark < counted_at or mark - counted_at > RECOUNT_GROWTH * count:
            (count,) = conn.execute(
                "SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", (owner,)
            ).fetchone()
            if len(self._users) >= MAX_KEPT_USERS:
                self._users.clear()
            self._users[owner] = (count, mark)
        return count

    def words(
        self, conn: sqlite3.Connection, owner: str, words: Sequence[str], cap: int, mark: int
    ) -> dict[str, int]:
        """How many of the user's messages hold each word (up to ``cap`` + 1).

        A count is redone once the index has grown by more than a twentieth of it, so a
        rare word's count is always current, and a common one's costs a recount only now
        and then (counting thousands of messages was most of a recall's time).
        """
        counts: dict[str, int] = {}
        stale = []
        for word in dict.fromkeys(words):
            count, counted_at = self._words.get((owner, word), (0, -1))
            fresh = 0 <= counted_at <= mark and mark - counted_at <= RECOUNT_GROWTH * count
            if fresh:
                counts[word] = count
            else:
                stale.append(word)
        if stale:
            if len(self._words) >= MAX_KEPT_WORDS:
                self._words.clear()
            for word, count in _count_words(conn, owner, stale, cap).items():
                self._words[(owner, word)] = (count, mark)
                counts[word] = count
        return counts


def _count_words(
    conn: sqlite3.Connection, owner: str, words: Sequence[str], cap: int
) -> dict[str, int]:
    """How many of the user's messages hold each word, counted up to ``cap`` + 1."""
    counts = {}
    for word in words:
        (counts[word],) = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM items_fts WHERE items_fts MATCH ? LIMIT ?)",
            (f"{owner} AND {quote(word)}", cap + 1),
        ).fetchone()
    return counts


def quote(word: str) -> str:
    """``word`` as one FTS5 phrase, never query syntax."""
    return '"' + word.replace('"', '""') + '"'
