"""The SQLite backend: one database file in WAL mode (the default store).

The same module names as ``store/postgres/``: ``store`` (the class, users and sessions),
``schema`` (migrations), ``memory`` (facts, summaries), ``auth`` (tokens, admins, rates),
``search`` and ``index`` (full-text search), ``sealing`` (encryption at rest). Only SQLite
has ``stats`` (word statistics for ranking), ``blind`` (a keyed index for encrypted
stores) and ``locks`` (per-session file locks across processes).
"""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
