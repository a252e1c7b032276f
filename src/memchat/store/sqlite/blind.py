"""A keyed ("blind") search index, so an encrypted store can still be searched and recalled.

With ``MEMCHAT_ENCRYPTED_SEARCH`` on, an encrypted SQLite store indexes each message by
keyed hashes of its index terms instead of by the terms: each word is turned into the
terms the full-text index would hold (FTS5's own tokenizer, so "Flights" and "flight" and
"café" and "cafe" still meet), and each term into 16 characters of its HMAC-SHA256 under
a key derived from the encryption key. A query's words are hashed the same way, so bm25
ranking, "all the words, else any" and recall work as on a plain store; snippets are cut
from the decrypted message.

What the file then shows: which messages share a term and how often, not the terms. That
is the known weakness of blind indexes: over enough text the most frequent hashes can be
guessed to be the most frequent words, and a guessed word can be looked for in every
message. So it is off unless asked for. The key is the first encryption key's: rotating
keys rebuilds the index at the next search.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence

from .index import TOKENIZER

# A word as the index splits text: a run of letters and digits.
_WORD = re.compile(r"[^\W_]+")
# Hashes kept between calls (a term's hash never changes for a key); cleared when full.
MAX_CACHED_WORDS = 50_000


class BlindTerms:
    """Turns text and query words into keyed hashes of their index terms."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"memchat blind index v1", hashlib.sha256).digest()
        # Stored beside the index: a different key means the index must be rebuilt.
        self.fingerprint = hmac.new(self._key, b"fingerprint", hashlib.sha256).hexdigest()[:16]
        self._terms: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_keys(cls, keys: str) -> BlindTerms:
        """The blind terms of MEMCHAT_ENCRYPTION_KEY's first (encrypting) key."""
        first = next(key.strip() for key in keys.split(",") if key.strip())
        return cls(base64.urlsafe_b64decode(first))

    def index_text(self, conn: sqlite3.Connection, text: str) -> str:
        """The text to index for ``text``: its terms' hashes, in order."""
        words = [_normal(word) for word in _WORD.findall(text)]
        terms = self._terms_of(conn, words)
        return " ".join(term for word in words for term in terms[word])

    def query_words(self, conn: sqlite3.Connection, words: Sequence[str]) -> list[str]:
        """Each query word as its terms' hashes (several terms: a phrase); none: left out."""
        terms = self._terms_of(conn, [_normal(word) for word in words])
        return [" ".join(found) for word in words if (found := terms[_normal(word)])]

    def snippet(
        self,
        conn: sqlite3.Connection,
        text: str,
        query: Sequence[str],
        highlight: tuple[str, str],
        size: int,
    ) -> str:
        """About ``size`` words of ``text`` around its first match of ``query``, the matched
        words between ``highlight``'s marks, "…" where text was cut (as FTS5's snippet)."""
        spans = [(m.start(), m.end(), _normal(m.group())) for m in _WORD.finditer(text)]
        if not spans:
            return text
        terms = self._terms_of(conn, [*(word for _, _, word in spans), *map(_normal, query)])
        wanted = {term for word in query for term in terms[_normal(word)]}
        matched = [bool(wanted.intersection(terms[word])) for _, _, word in spans]
        first = matched.index(True) if any(matched) else 0
        start = max(0, min(first - size // 4, len(spans) - size))
        window = range(start, min(start + size, len(spans)))
        pieces = ["…" if start > 0 else text[: spans[0][0]]]
        cursor = spans[start][0]
        for index in window:
            begin, end, _ = spans[index]
            pieces.append(text[cursor:begin])
            word = text[begin:end]
            pieces.append(f"{highlight[0]}{word}{highlight[1]}" if matched[index] else word)
            cursor = end
        last = window[-1] if window else start
        pieces.append(text[cursor:] if last == len(spans) - 1 else "…")
        return "".join(pieces)

    def _terms_of(
        self, conn: sqlite3.Connection, words: Iterable[str]
    ) -> dict[str, tuple[str, ...]]:
        """Each word's hashed index terms, from FTS5's tokenizer (cached)."""
        new = [word for word in dict.fromkeys(words) if word not in self._terms]
        if new:
            if len(self._terms) + len(new) > MAX_CACHED_WORDS:
                self._terms.clear()
            for word, terms in zip(new, _tokenize(conn, new), strict=True):
                self._terms[word] = tuple(self._hash(term) for term in terms)
        return {word: self._terms[word] for word in words}

    def _hash(self, term: str) -> str:
        digest = hmac.new(self._key, term.encode("utf-8"), hashlib.sha256).digest()
        # Lower-case base32 letters and digits: one token to FTS5's tokenizer.
        return base64.b32encode(digest[:10]).decode("ascii").lower()


def _normal(word: str) -> str:
    return unicodedata.normalize("NFKC", word).lower()


def _tokenize(conn: sqlite3.Connection, words: Sequence[str]) -> list[list[str]]:
    """The index terms of each word, as the full-text index's tokenizer makes them.

    The words pass through a scratch FTS5 table in the connection's temp schema, which
    ``SQLiteStore`` keeps in memory for a blind index: plaintext never reaches a temp file.
    """
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.blind_words"
        f" USING fts5(w, tokenize = '{TOKENIZER}')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.blind_terms"
        " USING fts5vocab(temp, blind_words, 'instance')"
    )
    conn.execute("DELETE FROM temp.blind_words")
    conn.executemany(
        "INSERT INTO temp.blind_words (rowid, w) VALUES (?, ?)", list(enumerate(words))
    )
    terms: list[list[str]] = [[] for _ in words]
    for doc, term in conn.execute(
        "SELECT doc, term FROM temp.blind_terms ORDER BY doc, offset"
    ).fetchall():
        terms[doc].append(term)
    conn.execute("DELETE FROM temp.blind_words")
    return terms
