"""Encryption at rest of conversation content, with a key from the environment.

With ``MEMCHAT_ENCRYPTION_KEY`` set, the store (SQLite or PostgreSQL) seals every item,
session title, fact value and summary with Fernet (AES-128-CBC with HMAC-SHA256, from
``cryptography``, as the SDK's EncryptedSession does) before it is written, and opens it
when read. A key may be a comma-separated list: the first encrypts, all decrypt, so keys
can be rotated; ``memchat rekey`` then re-seals the old rows under the first key, and
``memchat encrypt`` seals the rows written before there was a key (``sealing.py``).

What stays readable: user names, session ids, fact keys ("name"), timestamps and counts.
Full-text search needs the words, so an encrypted store keeps no search index;
``memchat search`` says so and recall is off (facts and summaries still work), unless
``MEMCHAT_ENCRYPTED_SEARCH`` gives an encrypted SQLite store a keyed one (``sqlite/blind.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from ..errors import ConfigError, CorruptData, StoreError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

SEALED = "enc1:"
# What search says on an encrypted store, which keeps no index of the words.
SEARCH_OFF = "search is off: this store is encrypted and keeps no index of the words"


class Cipher:
    """Seals and opens text with the configured key(s)."""

    def __init__(self, keys: str) -> None:
        try:
            from cryptography.fernet import Fernet, MultiFernet
        except ImportError as exc:
            raise ConfigError(
                "MEMCHAT_ENCRYPTION_KEY needs cryptography: pip install 'memchat[encrypt]'"
            ) from exc
        texts = [key.strip() for key in keys.split(",") if key.strip()]
        try:
            fernets = [Fernet(text.encode()) for text in texts]
            self._fernet: MultiFernet = MultiFernet(fernets)
        except ValueError as exc:
            raise ConfigError(
                "MEMCHAT_ENCRYPTION_KEY is not a Fernet key (make one with `memchat keygen`)"
            ) from exc
        self._first: Fernet = fernets[0]
        self.key_ids: tuple[str, ...] = tuple(key_id(text) for text in texts)
        """Each key's id, the first (encrypting) key's first: see ``key_id``."""

    def seal(self, text: str) -> str:
        """``text`` encrypted, as stored text."""
        return SEALED + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The text of a sealed value; a plaintext value (stored before the key) as is."""
        if not stored.startswith(SEALED):
            return stored
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(stored[len(SEALED) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise CorruptData(
                "a stored value cannot be decrypted with MEMCHAT_ENCRYPTION_KEY (wrong key?)"
            ) from exc

    def reseal(self, stored: str) -> str | None:
        """``stored`` sealed under the first key, or None if it already is.

        A plaintext value is sealed; one sealed under another of the keys is opened and
        sealed anew; one that no key opens is CorruptData.
        """
        if not stored.startswith(SEALED):
            return self.seal(stored)
        from cryptography.fernet import InvalidToken

        try:
            # Checks the token's HMAC under the first key without decrypting it.
            self._first.extract_timestamp(stored[len(SEALED) :].encode("ascii"))
        except (InvalidToken, UnicodeError):
            return self.seal(self.open(stored))
        return None


def key_id(key: str) -> str:
    """A short public id of a key: the store records which keys sealed its rows.

    An HMAC of a fixed text under the key, so it tells keys apart without revealing them.
    """
    digest = hmac.new(key.strip().encode(), b"memchat key id v1", hashlib.sha256)
    return digest.hexdigest()[:16]


def seal(cipher: Cipher | None, text: str) -> str:
    """``text`` sealed if there is a cipher, else as is."""
    return text if cipher is None else cipher.seal(text)


def unseal(cipher: Cipher | None, stored: str) -> str:
    """A stored value's text; StoreError if it is sealed and there is no key."""
    if cipher is not None:
        return cipher.open(stored)
    if stored.startswith(SEALED):
        raise StoreError("this database is encrypted: set MEMCHAT_ENCRYPTION_KEY to read it")
    return stored


def generate_key() -> str:
    """A new random Fernet key."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")
