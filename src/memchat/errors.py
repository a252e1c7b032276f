"""The exceptions memchat raises: one base class and small named subclasses.

The CLI and the HTTP server turn any ``MemchatError`` into a one-line message for the
user; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MemchatError(Exception):
    """Base class of every error memchat reports to a user."""


class ConfigError(MemchatError):
    """The configuration is missing or invalid."""


class ModelNotConfigured(ConfigError):
    """No chat model is configured."""


class InvalidName(MemchatError):
    """A user name or session id is not acceptable."""


class UserNotFound(MemchatError):
    """No user with that name."""


class SessionNotFound(MemchatError):
    """No session with that id for that user."""


class FactNotFound(MemchatError):
    """The user has no fact with that key or id."""


class ProjectNotFound(MemchatError):
    """No project of that name."""


class TurnNotFound(MemchatError):
    """No turn with that number on the session's active branch."""


class BranchNotFound(MemchatError):
    """No branch with that id in the session."""


class SessionExists(MemchatError):
    """A session with that id already exists for that user."""


class SessionChanged(MemchatError):
    """A session changed between an import reading it and adding turns to it."""


class StoreError(MemchatError):
    """The database cannot be opened, read or written."""


class CorruptData(StoreError):
    """Stored data cannot be decoded."""


class UnsealedData(StoreError):
    """An encrypted store holds plaintext: run ``memchat encrypt``."""


class KeyMismatch(StoreError):
    """Stored data is sealed under a key that is not configured: run ``memchat rekey``."""


class LastAdmin(MemchatError):
    """The only admin can be neither deleted nor stripped of the role."""


class QuotaExceeded(MemchatError):
    """The user has as many sessions or facts as allowed (MEMCHAT_MAX_SESSIONS, _FACTS)."""


class TurnError(MemchatError):
    """A turn was used outside its lifetime or could not be committed."""


class InputTooLarge(MemchatError):
    """A message is larger than the configured limit."""


class ImportFormatError(MemchatError):
    """An import file is not in a format memchat understands."""


class ImportTooLarge(InputTooLarge):
    """An import file, or what a ZIP of one unpacks to, is larger than the limit."""


class ModelCallFailed(MemchatError):
    """The model call failed; the turn was not stored."""


class IncompleteAnswer(ModelCallFailed):
    """The model's answer was cut off or empty; the turn was not stored."""


class SearchUnavailable(MemchatError):
    """This store keeps no search index (encrypted, without MEMCHAT_ENCRYPTED_SEARCH)."""
