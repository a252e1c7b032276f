"""API tokens: made here, handed out once, and stored only as hashes.

A token is 32 random bytes, so a fast hash is as safe as a slow one: there is nothing to
guess a dictionary word from. Every store backend keeps ``hash_token(token)`` and looks a
presented token up by that hash.
"""

from __future__ import annotations

import hashlib
import secrets

# A recognizable prefix lets secret scanners (and people) tell a memchat token at a glance.
TOKEN_PREFIX = "mc_"


def new_token() -> str:
    """A fresh random API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
